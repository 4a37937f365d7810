import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import { Money, formatMoney } from "../money.js";
import { instantFromDate, type Clock, type Instant } from "../time.js";
import {
  computeStats,
  countAgentExecutions,
  startOfCalendarUnit,
  sumTotals,
  sumTotalsBy,
  sumTotalsByPeriod,
  type StatsRow,
} from "./aggregation.repository.js";
import type { CostTotals, EventFilter, GroupTotals, PeriodTotals, PeriodWord, TimeWindow } from "./event-filter.js";

export interface TaskAggregate {
  totals: CostTotals;
  byOperation: GroupTotals[];
  byModel: GroupTotals[];
  byAgent: GroupTotals[];
  /** Per agent run: each call names at most one execution, so these partition the task's calls. */
  byAgentExecution: GroupTotals[];
  agentExecutionCount: string;
}

export interface PeriodAggregate {
  buckets: PeriodTotals[];
  totals: CostTotals;
}

export interface Stats extends StatsRow {
  startTime: Instant | undefined;
  endTime: Instant | undefined;
  totals: CostTotals;
}

/** Answers cost questions from the ledger. Every figure is computed by the database from the raw events. */
export class AggregationService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
  ) {}

  async aggregateByTask(taskId: string, filter: EventFilter): Promise<TaskAggregate> {
    const scoped = { ...filter, taskId };
    const [totals, byOperation, byModel, byAgent, byAgentExecution, agentExecutionCount] = await Promise.all([
      sumTotals(this.db, scoped),
      sumTotalsBy(this.db, scoped, "operation"),
      sumTotalsBy(this.db, scoped, "model"),
      sumTotalsBy(this.db, scoped, "agent_id"),
      sumTotalsBy(this.db, scoped, "agent_execution_id"),
      countAgentExecutions(this.db, scoped),
    ]);
    return { totals, byOperation, byModel, byAgent, byAgentExecution, agentExecutionCount };
  }

  /** Buckets in time order; the totals are the exact sum of the buckets. */
  async aggregateByPeriod(filter: EventFilter, window: TimeWindow, timeZone: string): Promise<PeriodAggregate> {
    const buckets = await sumTotalsByPeriod(this.db, filter, window, timeZone);
    return { buckets, totals: addTotals(buckets.map((b) => b.totals)) };
  }

  async getStats(filter: EventFilter, period: PeriodWord | undefined, timeZone: string): Promise<Stats> {
    const range = period ? await this.resolvePeriod(period, timeZone) : { start: filter.startTime, end: filter.endTime };
    const scoped = { ...filter, startTime: range.start, endTime: range.end };
    const [totals, stats] = await Promise.all([sumTotals(this.db, scoped), computeStats(this.db, scoped)]);
    return { ...stats, startTime: range.start, endTime: range.end, totals };
  }

  /**
   * The legacy range words. today: since local midnight; week: the last 7 x 24 hours (rolling, not a calendar
   * week); month: since the 1st of the calendar month, local time; last_*: rolling windows; all: no bound. The
   * range is open at the top, so an event recorded a moment "in the future" (within clock skew) still counts.
   */
  async resolvePeriod(period: PeriodWord, timeZone: string): Promise<{ start: Instant | undefined; end: undefined }> {
    const now = this.clock.now();
    const hoursAgo = (hours: number) => instantFromDate(new Date(now.getTime() - hours * 3_600_000));
    switch (period) {
      case "today":
        return { start: await startOfCalendarUnit(this.db, "day", instantFromDate(now), timeZone), end: undefined };
      case "month":
        return { start: await startOfCalendarUnit(this.db, "month", instantFromDate(now), timeZone), end: undefined };
      case "week":
      case "last_7d":
        return { start: hoursAgo(7 * 24), end: undefined };
      case "last_1h":
        return { start: hoursAgo(1), end: undefined };
      case "last_24h":
        return { start: hoursAgo(24), end: undefined };
      case "last_30d":
        return { start: hoursAgo(30 * 24), end: undefined };
      case "last_90d":
        return { start: hoursAgo(90 * 24), end: undefined };
      case "all":
        return { start: undefined, end: undefined };
    }
  }
}

/** The exact sum of several totals. */
export function addTotals(all: CostTotals[]): CostTotals {
  const sumWhole = (pick: (t: CostTotals) => string) => all.reduce((acc, t) => acc + BigInt(pick(t)), 0n).toString();
  return {
    costUsd: formatMoney(all.reduce((acc, t) => acc.plus(t.costUsd), new Money(0))),
    callCount: sumWhole((t) => t.callCount),
    inputTokens: sumWhole((t) => t.inputTokens),
    cacheReadInputTokens: sumWhole((t) => t.cacheReadInputTokens),
    cacheWriteInputTokens: sumWhole((t) => t.cacheWriteInputTokens),
    outputTokens: sumWhole((t) => t.outputTokens),
    reasoningOutputTokens: sumWhole((t) => t.reasoningOutputTokens),
    unpricedCallCount: sumWhole((t) => t.unpricedCallCount),
  };
}
