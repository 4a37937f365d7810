import {
  CostTrend,
  type AggregateByAgentRequest,
  type AggregateByAgentResponse,
  type AggregateByUserRequest,
  type AggregateByUserResponse,
  type AggregateCostsRequest,
  type AggregateCostsResponse,
  type GetCostHistoryRequest,
  type GetCostHistoryResponse,
  type GetCostSummaryRequest,
  type GetCostSummaryResponse,
  type GetProviderBreakdownRequest,
  type GetProviderBreakdownResponse,
  type ShareOfTotal,
} from "../../gen/costtracking/v1/aggregation.js";
import type {
  AggregateByPeriodRequest,
  AggregateByPeriodResponse,
  AggregateByTaskRequest,
  AggregateByTaskResponse,
  CostTrackingServiceServer,
  GetStatsRequest,
  GetStatsResponse,
} from "../../gen/costtracking/v1/cost_tracking_service.js";
import type { ReadReplica, ReplicaStatus } from "../db/read-replica.js";
import { Violations } from "../errors.js";
import type { Logger } from "../logger.js";
import {
  filterFromProto,
  instantToProto,
  replicaStatusToProto,
  timeZoneFromProto,
  totalsToProto,
  windowFromProto,
} from "../rpc/convert.js";
import { unary } from "../rpc/handlers.js";
import type { Instant } from "../time.js";
import { identifier } from "../validation.js";
import type { AggregationService, Share, Stats } from "./aggregation.service.js";
import { localDate } from "./calendar.js";
import type { DashboardService, SummaryPeriod, Trend } from "./dashboard.service.js";
import {
  DIMENSIONS,
  PERIOD_ALIASES,
  PERIOD_WORDS,
  type Dimension,
  type GroupTotals,
  type PeriodWord,
} from "./event-filter.js";

const groupsToProto = (groups: GroupTotals[]) => groups.map((g) => ({ key: g.key, totals: totalsToProto(g.totals) }));
const sharesToProto = (shares: Share[]): ShareOfTotal[] =>
  shares.map((s) => ({ key: s.key, totals: totalsToProto(s.totals), percentOfTotal: s.percentOfTotal }));
const optionalInstant = (name: "startTime" | "endTime", instant: Instant | undefined) =>
  instant ? { [name]: instantToProto(instant) } : {};

/** A range word or alias; empty means none. */
export function periodFromProto(value: string, field: string, violations: Violations): PeriodWord | undefined {
  if (value === "") return undefined;
  const word = value.toLowerCase();
  const known = (PERIOD_WORDS as readonly string[]).includes(word) ? (word as PeriodWord) : PERIOD_ALIASES[word];
  if (!known) violations.add(field, `unknown range word "${value}"; use one of ${PERIOD_WORDS.join(", ")}`);
  return known;
}

/** Group-by dimension names, each known and at most once. */
function groupByFromProto(values: string[], field: string, violations: Violations): Dimension[] {
  const dimensions: Dimension[] = [];
  values.forEach((value, i) => {
    const name = value.toLowerCase() as Dimension;
    if (!(DIMENSIONS as readonly string[]).includes(name)) {
      violations.add(`${field}[${i}]`, `unknown dimension "${value}"; use one of ${DIMENSIONS.join(", ")}`);
    } else if (dimensions.includes(name)) {
      violations.add(`${field}[${i}]`, `dimension "${value}" is repeated`);
    } else {
      dimensions.push(name);
    }
  });
  return dimensions;
}

const MAX_LIMIT = 100_000;
function limitFromProto(value: number, field: string, violations: Violations): number | undefined {
  if (value < 0 || value > MAX_LIMIT) violations.add(field, `must be from 0 to ${MAX_LIMIT}, got ${value}`);
  return value > 0 ? value : undefined;
}

/** A window that may be left out (UNSPECIFIED: no time grouping). */
function optionalWindowFromProto(value: number, field: string, violations: Violations) {
  return value === 0 ? undefined : windowFromProto(value, field, violations);
}

const TREND_TO_PROTO: Record<Trend, CostTrend> = {
  up: CostTrend.COST_TREND_UP,
  down: CostTrend.COST_TREND_DOWN,
  stable: CostTrend.COST_TREND_STABLE,
};

/** A mean or percentile in milliseconds: null (no rows) is 0. */
const ms = (value: string | number | null) => (value === null ? 0 : Number(value));

type AggregationMethods =
  | "aggregateByTask"
  | "aggregateByPeriod"
  | "getStats"
  | "aggregateCosts"
  | "aggregateByAgent"
  | "aggregateByUser"
  | "getProviderBreakdown"
  | "getCostSummary"
  | "getCostHistory";

/**
 * The questions' RPCs. `aggregation` and `dashboard` read from the read database; `replica`, set when that is a
 * read replica, measures its lag for GetStats.
 */
export function aggregationRpc(
  aggregation: AggregationService,
  dashboard: DashboardService,
  logger: Logger,
  replica?: ReadReplica,
): Pick<CostTrackingServiceServer, AggregationMethods> {
  /** Per-value totals of one dimension, for AggregateByAgent and AggregateByUser. */
  const aggregateBy = async (
    dimension: Dimension,
    request: { filter?: AggregateByAgentRequest["filter"]; period: string; timeZone: string; limit: number },
  ) => {
    const violations = new Violations();
    const filter = filterFromProto(request.filter, "filter", violations);
    const period = periodFromProto(request.period, "period", violations);
    const timeZone = timeZoneFromProto(request.timeZone, "time_zone", violations);
    const limit = limitFromProto(request.limit, "limit", violations);
    violations.throwIfAny();
    const result = await aggregation.aggregateCosts({ filter, groupBy: [dimension], timeZone, period, limit });
    return { groups: result.rows.map((r) => ({ key: r.keys[0]!, totals: r.totals })), totals: result.totals };
  };

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
        byAgentExecution: groupsToProto(result.byAgentExecution),
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

    aggregateCosts: unary("AggregateCosts", logger, async (request: AggregateCostsRequest): Promise<AggregateCostsResponse> => {
      const violations = new Violations();
      const filter = filterFromProto(request.filter, "filter", violations);
      const groupBy = groupByFromProto(request.groupBy, "group_by", violations);
      const window = optionalWindowFromProto(request.window, "window", violations);
      const timeZone = timeZoneFromProto(request.timeZone, "time_zone", violations);
      const period = periodFromProto(request.period, "period", violations);
      const limit = limitFromProto(request.limit, "limit", violations);
      violations.throwIfAny();
      const result = await aggregation.aggregateCosts({ filter, groupBy, window, timeZone, period, limit });
      return {
        rows: result.rows.map((r) => ({
          keys: r.keys,
          ...(r.bucket
            ? { startTime: instantToProto(r.bucket.start), endTime: instantToProto(r.bucket.end), label: r.bucket.label }
            : { label: "" }),
          totals: totalsToProto(r.totals),
        })),
        totals: totalsToProto(result.totals),
        ...optionalInstant("startTime", result.startTime),
        ...optionalInstant("endTime", result.endTime),
      };
    }),

    aggregateByAgent: unary("AggregateByAgent", logger, async (request: AggregateByAgentRequest): Promise<AggregateByAgentResponse> => {
      const { groups, totals } = await aggregateBy("agent", request);
      return { agents: groupsToProto(groups), totals: totalsToProto(totals) };
    }),

    aggregateByUser: unary("AggregateByUser", logger, async (request: AggregateByUserRequest): Promise<AggregateByUserResponse> => {
      const { groups, totals } = await aggregateBy("user", request);
      return { users: groupsToProto(groups), totals: totalsToProto(totals) };
    }),

    getProviderBreakdown: unary(
      "GetProviderBreakdown",
      logger,
      async (request: GetProviderBreakdownRequest): Promise<GetProviderBreakdownResponse> => {
        const violations = new Violations();
        const filter = filterFromProto(request.filter, "filter", violations);
        const period = periodFromProto(request.period, "period", violations);
        const timeZone = timeZoneFromProto(request.timeZone, "time_zone", violations);
        violations.throwIfAny();
        const result = await aggregation.getProviderBreakdown(filter, period, timeZone);
        return {
          providers: result.providers.map((p) => ({
            provider: p.key,
            totals: totalsToProto(p.totals),
            percentOfTotal: p.percentOfTotal,
            models: sharesToProto(p.models),
          })),
          totals: totalsToProto(result.totals),
          ...optionalInstant("startTime", result.startTime),
          ...optionalInstant("endTime", result.endTime),
        };
      },
    ),

    getCostSummary: unary("GetCostSummary", logger, async (request: GetCostSummaryRequest): Promise<GetCostSummaryResponse> => {
      const violations = new Violations();
      const userId = identifier(request.userId, "user_id", violations);
      const agentId = identifier(request.agentId, "agent_id", violations);
      const timeZone = timeZoneFromProto(request.timeZone, "time_zone", violations);
      const period = (request.period || "month").toLowerCase();
      if (!["today", "week", "month"].includes(period)) {
        violations.add("period", `unknown range word "${request.period}"; use today, week or month`);
      }
      violations.throwIfAny();
      const summary = await dashboard.getCostSummary({ userId, agentId, timeZone }, period as SummaryPeriod);
      return {
        todayCostUsd: summary.todayCostUsd,
        weekCostUsd: summary.weekCostUsd,
        monthCostUsd: summary.monthCostUsd,
        taskCount: summary.taskCount,
        averageCostPerTaskUsd: summary.averageCostPerTaskUsd,
        totals: totalsToProto(summary.totals),
        byOperation: sharesToProto(summary.byOperation),
        byModel: sharesToProto(summary.byModel),
        period: summary.period,
        startTime: instantToProto(summary.startTime),
        asOfTime: instantToProto(summary.asOf),
      };
    }),

    getCostHistory: unary("GetCostHistory", logger, async (request: GetCostHistoryRequest): Promise<GetCostHistoryResponse> => {
      const violations = new Violations();
      const userId = identifier(request.userId, "user_id", violations);
      const agentId = identifier(request.agentId, "agent_id", violations);
      const timeZone = timeZoneFromProto(request.timeZone, "time_zone", violations);
      if (request.days < 0 || request.days > 366) violations.add("days", `must be from 0 to 366, got ${request.days}`);
      const period = (request.period || "week").toLowerCase();
      if (request.days === 0 && !["week", "month"].includes(period)) {
        violations.add("period", `unknown range word "${request.period}"; use week or month, or set days`);
      }
      violations.throwIfAny();
      // "month" is the calendar month to date, as everywhere else (the old history used 30 rolling days).
      const days = request.days || (period === "week" ? 7 : localDate(aggregation.now(), timeZone).day);
      const history = await dashboard.getCostHistory({ userId, agentId, timeZone }, days);
      return {
        days: history.days.map((d) => ({
          date: d.date,
          startTime: instantToProto(d.startTime),
          costUsd: d.costUsd,
          callCount: d.callCount,
          taskCount: d.taskCount,
          averageCostPerTaskUsd: d.averageCostPerTaskUsd,
        })),
        totalCostUsd: history.totalCostUsd,
        weeklyAverageUsd: history.weeklyAverageUsd,
        trend: TREND_TO_PROTO[history.trend],
      };
    }),

    getStats: unary("GetStats", logger, async (request: GetStatsRequest): Promise<GetStatsResponse> => {
      const violations = new Violations();
      const filter = filterFromProto(request.filter, "filter", violations);
      const period = periodFromProto(request.period, "period", violations);
      const timeZone = timeZoneFromProto(request.timeZone, "time_zone", violations);
      violations.throwIfAny();
      // Measured before the answer is read, so the answer is at least as fresh as the lag it shows.
      const readReplica = replica && (await replica.measure());
      const stats = await aggregation.getStats(filter, period, timeZone);
      return {
        ...optionalInstant("startTime", stats.startTime),
        ...optionalInstant("endTime", stats.endTime),
        ...statsToProto(stats, readReplica),
      };
    }),
  };
}

/**
 * The figures of GetStats, shared with WatchStats snapshots so that the two always answer alike; with the read
 * replica's lag when the figures were read from one.
 */
export function statsToProto(stats: Stats, readReplica?: ReplicaStatus): Omit<GetStatsResponse, "startTime" | "endTime"> {
  const calls = BigInt(stats.totals.callCount);
  const succeeded = BigInt(stats.succeeded_call_count);
  return {
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
    ...(readReplica ? { readReplica: replicaStatusToProto(readReplica) } : {}),
  };
}
