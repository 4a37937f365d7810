import type {
  AggregateByPeriodRequest,
  AggregateByPeriodResponse,
  AggregateByTaskRequest,
  AggregateByTaskResponse,
  CostTrackingServiceServer,
  GetStatsRequest,
  GetStatsResponse,
} from "../../gen/costtracking/v1/cost_tracking_service.js";
import { Violations } from "../errors.js";
import type { Logger } from "../logger.js";
import {
  filterFromProto,
  instantToProto,
  timeZoneFromProto,
  totalsToProto,
  windowFromProto,
} from "../rpc/convert.js";
import { unary } from "../rpc/handlers.js";
import { identifier } from "../validation.js";
import type { AggregationService } from "./aggregation.service.js";
import { PERIOD_ALIASES, PERIOD_WORDS, type GroupTotals, type PeriodWord } from "./event-filter.js";

const groupsToProto = (groups: GroupTotals[]) => groups.map((g) => ({ key: g.key, totals: totalsToProto(g.totals) }));

/** A range word or alias; empty means none. */
export function periodFromProto(value: string, field: string, violations: Violations): PeriodWord | undefined {
  if (value === "") return undefined;
  const word = value.toLowerCase();
  const known = (PERIOD_WORDS as readonly string[]).includes(word) ? (word as PeriodWord) : PERIOD_ALIASES[word];
  if (!known) violations.add(field, `unknown range word "${value}"; use one of ${PERIOD_WORDS.join(", ")}`);
  return known;
}

/** A mean or percentile in milliseconds: null (no rows) is 0. */
const ms = (value: string | number | null) => (value === null ? 0 : Number(value));

export function aggregationRpc(
  aggregation: AggregationService,
  logger: Logger,
): Pick<CostTrackingServiceServer, "aggregateByTask" | "aggregateByPeriod" | "getStats"> {
  return {
    aggregateByTask: unary("AggregateByTask", logger, async (request: AggregateByTaskRequest): Promise<AggregateByTaskResponse> => {
      const violations = new Violations();
      const taskId = identifier(request.taskId, "task_id", violations, true);
      const filter = filterFromProto(request.filter, "filter", violations);
      if (filter.taskId && filter.taskId !== taskId) violations.add("filter.task_id", "must be empty or equal task_id");
      violations.throwIfAny();
      const result = await aggregation.aggregateByTask(taskId!, filter);
      return {
        taskId: taskId!,
        totals: totalsToProto(result.totals),
        byOperation: groupsToProto(result.byOperation),
        byModel: groupsToProto(result.byModel),
        byAgent: groupsToProto(result.byAgent),
        agentExecutionCount: result.agentExecutionCount,
      };
    }),

    aggregateByPeriod: unary(
      "AggregateByPeriod",
      logger,
      async (request: AggregateByPeriodRequest): Promise<AggregateByPeriodResponse> => {
        const violations = new Violations();
        const filter = filterFromProto(request.filter, "filter", violations);
        const window = windowFromProto(request.window, "window", violations);
        const timeZone = timeZoneFromProto(request.timeZone, "time_zone", violations);
        violations.throwIfAny();
        const result = await aggregation.aggregateByPeriod(filter, window, timeZone);
        return {
          buckets: result.buckets.map((b) => ({
            startTime: instantToProto(b.start),
            endTime: instantToProto(b.end),
            label: b.label,
            totals: totalsToProto(b.totals),
          })),
          totals: totalsToProto(result.totals),
        };
      },
    ),

    getStats: unary("GetStats", logger, async (request: GetStatsRequest): Promise<GetStatsResponse> => {
      const violations = new Violations();
      const filter = filterFromProto(request.filter, "filter", violations);
      const period = periodFromProto(request.period, "period", violations);
      const timeZone = timeZoneFromProto(request.timeZone, "time_zone", violations);
      violations.throwIfAny();
      const stats = await aggregation.getStats(filter, period, timeZone);
      const calls = BigInt(stats.totals.callCount);
      const succeeded = BigInt(stats.succeeded_call_count);
      return {
        ...(stats.startTime ? { startTime: instantToProto(stats.startTime) } : {}),
        ...(stats.endTime ? { endTime: instantToProto(stats.endTime) } : {}),
        totals: totalsToProto(stats.totals),
        succeededCallCount: stats.succeeded_call_count,
        failedCallCount: stats.failed_call_count,
        cancelledCallCount: stats.cancelled_call_count,
        // A rate is a ratio, not money: a double is the right type here.
        successRatePercent: calls === 0n ? 0 : Number((succeeded * 1_000_000n) / calls) / 10_000,
        averageCallDurationMs: ms(stats.average_call_duration_ms),
        p50CallDurationMs: ms(stats.p50_call_duration_ms),
        p95CallDurationMs: ms(stats.p95_call_duration_ms),
        agentExecutionCount: stats.agent_execution_count,
        failedAgentExecutionCount: stats.failed_agent_execution_count,
        averageAgentExecutionDurationMs: ms(stats.average_agent_execution_duration_ms),
        p95AgentExecutionDurationMs: ms(stats.p95_agent_execution_duration_ms),
      };
    }),
  };
}
