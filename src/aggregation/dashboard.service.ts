import { Money, formatMoney } from "../money.js";
import { instantFromDate, type Instant } from "../time.js";
import { divideMoney, type AggregationService, type Share } from "./aggregation.service.js";
import type { CostTotals, EventFilter } from "./event-filter.js";

/** Whose calls a dashboard payload covers: everyone, or one user and/or one agent. */
export interface DashboardScope {
  userId?: string | undefined;
  agentId?: string | undefined;
  timeZone: string;
}

export type SummaryPeriod = "today" | "week" | "month";

export interface CostSummary {
  todayCostUsd: string;
  weekCostUsd: string;
  monthCostUsd: string;
  taskCount: string;
  averageCostPerTaskUsd: string;
  totals: CostTotals;
  byOperation: Share[];
  byModel: Share[];
  period: SummaryPeriod;
  startTime: Instant;
  asOf: Instant;
}

export type Trend = "up" | "down" | "stable";

export interface DailyCost {
  date: string;
  startTime: Instant;
  costUsd: string;
  callCount: string;
  taskCount: string;
  averageCostPerTaskUsd: string;
}

export interface CostHistory {
  days: DailyCost[];
  totalCostUsd: string;
  weeklyAverageUsd: string;
  trend: Trend;
}

/**
 * The dashboard's payloads (the old CostAggregationService's summary and history), computed with the legacy
 * meanings but without its bugs: exact money (no rounding to cents before anything is compared), the user filter
 * honoured, every call counted (failed calls are billed too), and days without calls present in the history.
 */
export class DashboardService {
  constructor(private readonly aggregation: AggregationService) {}

  async getCostSummary(scope: DashboardScope, period: SummaryPeriod): Promise<CostSummary> {
    const now = this.aggregation.now();
    const base: EventFilter = { userId: scope.userId, agentId: scope.agentId };
    const [todayStart, monthStart] = await Promise.all([
      this.aggregation.startOf("day", scope.timeZone, now),
      this.aggregation.startOf("month", scope.timeZone, now),
    ]);
    const weekStart = instantFromDate(new Date(now.getTime() - 7 * 86_400_000));
    const periodStart = { today: todayStart, week: weekStart, month: monthStart }[period];
    const inPeriod: EventFilter = { ...base, startTime: periodStart };
    const [today, week, month, totals, tasks] = await Promise.all([
      this.aggregation.totals({ ...base, startTime: todayStart }),
      this.aggregation.totals({ ...base, startTime: weekStart }),
      this.aggregation.totals({ ...base, startTime: monthStart }),
      this.aggregation.totals(inPeriod),
      this.aggregation.countTasks(inPeriod),
    ]);
    const total = new Money(totals.costUsd);
    const [byOperation, byModel] = await Promise.all([
      this.aggregation.sharesBy(inPeriod, "operation", total),
      this.aggregation.sharesBy(inPeriod, "model", total),
    ]);
    const taskCount = tasks[0]?.count ?? "0";
    return {
      todayCostUsd: today.costUsd,
      weekCostUsd: week.costUsd,
      monthCostUsd: month.costUsd,
      taskCount,
      averageCostPerTaskUsd: divideMoney(total, BigInt(taskCount)),
      totals,
      byOperation,
      byModel,
      period,
      startTime: periodStart,
      asOf: instantFromDate(now),
    };
  }

  /**
   * The daily series of `days` local days ending today (today included), zero days included. The total is the
   * exact sum of the days, and the days' buckets follow the zone's calendar (23 or 25 hours on DST days).
   */
  async getCostHistory(scope: DashboardScope, days: number): Promise<CostHistory> {
    const now = this.aggregation.now();
    const todayStart = await this.aggregation.startOf("day", scope.timeZone, now);
    const start = await this.aggregation.daysBefore(todayStart, days - 1, scope.timeZone);
    const end = await this.aggregation.daysBefore(todayStart, -1, scope.timeZone);
    const window = { unit: "day" as const, timeZone: scope.timeZone };
    const filter: EventFilter = { userId: scope.userId, agentId: scope.agentId, startTime: start, endTime: end };
    const [series, tasks] = await Promise.all([
      this.aggregation.aggregateCosts({ filter, groupBy: [], window: "day", timeZone: scope.timeZone }),
      this.aggregation.countTasks(filter, window),
    ]);
    const tasksByDay = new Map(tasks.map((t) => [t.bucketStart, t.count]));
    const daily = series.rows.map((row): DailyCost => {
      const taskCount = tasksByDay.get(row.bucket!.start) ?? "0";
      return {
        date: row.bucket!.label.slice(0, 10),
        startTime: row.bucket!.start,
        costUsd: row.totals.costUsd,
        callCount: row.totals.callCount,
        taskCount,
        averageCostPerTaskUsd: divideMoney(row.totals.costUsd, BigInt(taskCount)),
      };
    });
    const total = new Money(series.totals.costUsd);
    return {
      days: daily,
      totalCostUsd: formatMoney(total),
      weeklyAverageUsd: divideMoney(total.times(7), daily.length),
      trend: trendOf(daily.map((d) => new Money(d.costUsd))),
    };
  }
}

/**
 * The old service's trend rule, on exact daily costs: split at len/2 (rounded down); the second half's mean more
 * than 10% above the first half's is up, more than 10% below is down, otherwise (or with fewer than 2 days) stable.
 * Compared without division: mean2 > 1.1 x mean1  <=>  10 x sum2 x n1 > 11 x sum1 x n2.
 */
export function trendOf(costs: Money[]): Trend {
  if (costs.length < 2) return "stable";
  const mid = Math.floor(costs.length / 2);
  const sum = (xs: Money[]) => xs.reduce((a, b) => a.plus(b), new Money(0));
  const [first, second] = [costs.slice(0, mid), costs.slice(mid)];
  const left = sum(second).times(first.length);
  const right = sum(first).times(second.length);
  if (left.times(10).greaterThan(right.times(11))) return "up";
  if (left.times(10).lessThan(right.times(9))) return "down";
  return "stable";
}
