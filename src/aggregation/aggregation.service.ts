import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import { ValidationError } from "../errors.js";
import { Money, formatMoney } from "../money.js";
import { instantFromDate, millisOfInstant, type Clock, type Instant } from "../time.js";
import { computeStats, countAgentExecutions, startOfCalendarUnit, type StatsRow } from "./aggregation.repository.js";
import { countDistinctTasks, listBuckets, queryCosts, type Bucket, type CostRow, type ZonedWindow } from "./cost-query.repository.js";
import type { CostTotals, Dimension, EventFilter, GroupTotals, PeriodTotals, PeriodWord, TimeWindow } from "./event-filter.js";

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

/** A general question: a filter (whose range a range word may replace), dimensions, a window, a row limit. */
export interface CostsRequest {
  filter: EventFilter;
  groupBy: readonly Dimension[];
  window?: TimeWindow | undefined;
  timeZone: string;
  period?: PeriodWord | undefined;
  limit?: number | undefined;
}

export interface CostsAggregate {
  rows: CostRow[];
  totals: CostTotals;
  startTime: Instant | undefined;
  endTime: Instant | undefined;
}

/** A group's totals with its share of a total cost. */
export interface Share extends GroupTotals {
  percentOfTotal: string;
}

export interface ProviderBreakdown {
  providers: Array<Share & { models: Share[] }>;
  totals: CostTotals;
  startTime: Instant | undefined;
  endTime: Instant | undefined;
}

/** The most buckets a filled series may have (a bounded range is filled with its empty buckets). */
export const MAX_FILLED_BUCKETS = 50_000;

export interface AggregationOptions {
  /** Read the rollups (with the raw rows after their watermark); false: answer every question from raw rows. */
  useRollups: boolean;
}

/**
 * Answers cost questions from the ledger, exactly: from the rollups where one serves the question, from the raw
 * events otherwise (see cost-query.repository.ts). Plain methods, so other modules (streams, budgets) reuse them.
 */
export class AggregationService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
    private readonly options: AggregationOptions = { useRollups: true },
  ) {}

  now(): Date {
    return this.clock.now();
  }

  /** Rows of a grouped question; see AggregateCostsResponse in aggregation.proto for the order and filling rules. */
  async aggregateCosts(request: CostsRequest): Promise<CostsAggregate> {
    const range = request.period
      ? await this.resolvePeriod(request.period, request.timeZone)
      : { start: request.filter.startTime, end: request.filter.endTime };
    const filter: EventFilter = { ...request.filter, startTime: range.start, endTime: range.end };
    const window = request.window ? { unit: request.window, timeZone: request.timeZone } : undefined;
    const rows = await queryCosts(this.db, { filter, groupBy: request.groupBy, window, limit: request.limit }, this.options.useRollups);
    const totals =
      request.limit && rows.length >= request.limit
        ? (await queryCosts(this.db, { filter, groupBy: [] }, this.options.useRollups))[0]!.totals
        : addTotals(rows.map((r) => r.totals));
    const filled = window && request.groupBy.length === 0 && !request.limit ? await this.fillBuckets(rows, window, filter) : rows;
    return { rows: filled, totals, startTime: range.start, endTime: range.end };
  }

  /** Totals of the calls that match a filter. */
  async totals(filter: EventFilter): Promise<CostTotals> {
    const [row] = await queryCosts(this.db, { filter, groupBy: [] }, this.options.useRollups);
    return row!.totals;
  }

  /** Totals per value of one dimension, most expensive first. */
  async totalsBy(filter: EventFilter, dimension: Dimension, limit?: number): Promise<GroupTotals[]> {
    const rows = await queryCosts(this.db, { filter, groupBy: [dimension], limit }, this.options.useRollups);
    return rows.map((r) => ({ key: r.keys[0]!, totals: r.totals }));
  }

  async aggregateByTask(taskId: string, filter: EventFilter): Promise<TaskAggregate> {
    const scoped = { ...filter, taskId };
    const [totals, byOperation, byModel, byAgent, byAgentExecution, agentExecutionCount] = await Promise.all([
      this.totals(scoped),
      this.totalsBy(scoped, "operation"),
      this.totalsBy(scoped, "model"),
      this.totalsBy(scoped, "agent"),
      this.totalsBy(scoped, "agent_execution"),
      countAgentExecutions(this.db, scoped),
    ]);
    return { totals, byOperation, byModel, byAgent, byAgentExecution, agentExecutionCount };
  }

  /** Buckets in time order; the totals are the exact sum of the buckets. Filled as AggregateCosts fills them. */
  async aggregateByPeriod(filter: EventFilter, window: TimeWindow, timeZone: string): Promise<PeriodAggregate> {
    const result = await this.aggregateCosts({ filter, groupBy: [], window, timeZone });
    return {
      buckets: result.rows.map((r) => ({ ...r.bucket!, totals: r.totals })),
      totals: result.totals,
    };
  }

  /** Per provider, and per model within each provider, with shares of the total cost. */
  async getProviderBreakdown(filter: EventFilter, period: PeriodWord | undefined, timeZone: string): Promise<ProviderBreakdown> {
    const result = await this.aggregateCosts({ filter, groupBy: ["provider", "model"], timeZone, period });
    const total = new Money(result.totals.costUsd);
    const byProvider = new Map<string, CostRow[]>();
    for (const row of result.rows) byProvider.set(row.keys[0]!, [...(byProvider.get(row.keys[0]!) ?? []), row]);
    const providers = [...byProvider].map(([provider, rows]) => {
      const totals = addTotals(rows.map((r) => r.totals));
      return {
        key: provider,
        totals,
        percentOfTotal: percentOf(totals.costUsd, total),
        models: rows.map((r) => ({ key: r.keys[1]!, totals: r.totals, percentOfTotal: percentOf(r.totals.costUsd, total) })),
      };
    });
    providers.sort((a, b) => new Money(b.totals.costUsd).comparedTo(a.totals.costUsd) || (a.key < b.key ? -1 : 1));
    return { providers, totals: result.totals, startTime: result.startTime, endTime: result.endTime };
  }

  /** Shares of a total per value of a dimension, most expensive first. */
  async sharesBy(filter: EventFilter, dimension: Dimension, total: Money): Promise<Share[]> {
    const groups = await this.totalsBy(filter, dimension);
    return groups.map((g) => ({ ...g, percentOfTotal: percentOf(g.totals.costUsd, total) }));
  }

  /** Distinct tasks with calls that match the filter, per local day when a window is given. */
  countTasks(filter: EventFilter, window?: ZonedWindow) {
    return countDistinctTasks(this.db, filter, window, this.options.useRollups);
  }

  async getStats(filter: EventFilter, period: PeriodWord | undefined, timeZone: string): Promise<Stats> {
    const range = period ? await this.resolvePeriod(period, timeZone) : { start: filter.startTime, end: filter.endTime };
    const scoped = { ...filter, startTime: range.start, endTime: range.end };
    // Durations and percentiles need every call, so the statistics always read raw rows.
    const [totals, stats] = await Promise.all([this.totals(scoped), computeStats(this.db, scoped)]);
    return { ...stats, startTime: range.start, endTime: range.end, totals };
  }

  /** The start of the local calendar day or month that holds `at` (default now). */
  startOf(unit: "day" | "month", timeZone: string, at: Date = this.clock.now()): Promise<Instant> {
    return startOfCalendarUnit(this.db, unit, instantFromDate(at), timeZone);
  }

  /** The local midnight a number of calendar days before `dayStart` (itself a local midnight). */
  async daysBefore(dayStart: Instant, days: number, timeZone: string): Promise<Instant> {
    const probe = new Date(millisOfInstant(dayStart) - days * 86_400_000 + 12 * 3_600_000); // noon: clear of DST
    return this.startOf("day", timeZone, probe);
  }

  /** Every calendar bucket of a window over [start, end). */
  buckets(window: ZonedWindow, start: Instant, end: Instant): Promise<Bucket[]> {
    return listBuckets(this.db, window, start, end);
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
        return { start: await this.startOf("day", timeZone), end: undefined };
      case "month":
        return { start: await this.startOf("month", timeZone), end: undefined };
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

  /**
   * A series with a start is filled with its empty buckets, up to the end (or now, when open-ended), so a chart
   * shows the days without calls as zero. Buckets with calls beyond that (within clock skew) are kept too.
   */
  private async fillBuckets(rows: CostRow[], window: ZonedWindow, filter: EventFilter): Promise<CostRow[]> {
    if (!filter.startTime) return rows;
    const end = filter.endTime ?? instantFromDate(this.clock.now());
    if (end <= filter.startTime) return rows;
    const approximateBuckets = (millisOfInstant(end) - millisOfInstant(filter.startTime)) / MIN_BUCKET_MILLIS[window.unit];
    if (approximateBuckets > MAX_FILLED_BUCKETS) {
      throw new ValidationError([
        {
          field: "window",
          description: `the range holds about ${Math.ceil(approximateBuckets)} ${window.unit} buckets; at most ${MAX_FILLED_BUCKETS} are returned, use a larger window or a shorter range`,
        },
      ]);
    }
    const byStart = new Map(rows.map((r) => [r.bucket!.start, r]));
    for (const bucket of await listBuckets(this.db, window, filter.startTime, end)) {
      if (!byStart.has(bucket.start)) byStart.set(bucket.start, { keys: [], bucket, totals: ZERO_TOTALS });
    }
    return [...byStart.values()].sort((a, b) => (a.bucket!.start < b.bucket!.start ? -1 : 1));
  }
}

const MIN_BUCKET_MILLIS: Record<TimeWindow, number> = {
  hour: 3_600_000,
  day: 23 * 3_600_000,
  week: 7 * 86_400_000 - 3_600_000,
  month: 28 * 86_400_000 - 3_600_000,
};

export const ZERO_TOTALS: CostTotals = Object.freeze({
  costUsd: "0",
  callCount: "0",
  inputTokens: "0",
  cacheReadInputTokens: "0",
  cacheWriteInputTokens: "0",
  outputTokens: "0",
  reasoningOutputTokens: "0",
  unpricedCallCount: "0",
});

/** A part's cost as a percentage of a total, rounded half-even to 2 decimal places; "0" when the total is 0. */
export function percentOf(part: Money | string, total: Money): string {
  if (total.isZero()) return "0";
  return formatMoney(new Money(part).times(100).div(total).toDecimalPlaces(2, Money.ROUND_HALF_EVEN));
}

/** A quotient of money rounded half-even to 6 decimal places (a micro-dollar); "0" when dividing by zero. */
export function divideMoney(numerator: Money | string, denominator: Money | bigint | number): string {
  const d = new Money(typeof denominator === "bigint" ? denominator.toString() : denominator);
  if (d.isZero()) return "0";
  return formatMoney(new Money(numerator).div(d).toDecimalPlaces(6, Money.ROUND_HALF_EVEN));
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
