import type { Kysely } from "kysely";
import type { AggregationService } from "../aggregation/aggregation.service.js";
import { percentOf, divideMoney } from "../aggregation/aggregation.service.js";
import { daysInMonth, localDate } from "../aggregation/calendar.js";
import type { Database } from "../db/schema.js";
import { Money, formatMoney } from "../money.js";
import { instantFromDate, type Instant } from "../time.js";
import {
  CRITICAL_PERCENT,
  DEFAULT_MONTHLY_BUDGET_USD,
  HIGH_WARNING_PERCENT,
  PROJECTION_WARNING_FACTOR,
  WARNING_PERCENT,
  type Budget,
  type BudgetScope,
} from "./budget.js";
import { deleteBudget, findBudget, listBudgets, upsertBudget } from "./budget.repository.js";

export type BudgetLevel = "healthy" | "warning" | "critical";

export interface BudgetAlert {
  level: Exclude<BudgetLevel, "healthy">;
  message: string;
  thresholdPercent: number;
  currentPercent: string;
  projection: boolean;
}

export interface BudgetStatus {
  budget: Budget;
  defaultBudget: boolean;
  spentUsd: string;
  remainingUsd: string;
  overspentUsd: string;
  percentUsed: string;
  percentUsedCapped: string;
  daysInMonth: number;
  daysElapsed: number;
  daysRemaining: number;
  dailyBurnRateUsd: string;
  projectedMonthEndUsd: string;
  projectedOverBudget: boolean;
  status: BudgetLevel;
  alerts: BudgetAlert[];
  monthStart: Instant;
  asOf: Instant;
}

/**
 * Stores monthly budgets and measures month-to-date spending against them. Budgets are managed (set, listed,
 * deleted) on `writes`, the primary; the status (the budget and the spending it is measured against) is read from
 * `reads` with `aggregation` (the read replica when configured, so it may trail a SetBudget by the replica's lag).
 */
export class BudgetService {
  constructor(
    private readonly writes: Kysely<Database>,
    private readonly reads: Kysely<Database>,
    private readonly aggregation: AggregationService,
  ) {}

  setBudget(scope: BudgetScope, monthlyLimitUsd: string, timeZone: string): Promise<Budget> {
    return upsertBudget(this.writes, scope, monthlyLimitUsd, timeZone);
  }

  listBudgets(): Promise<Budget[]> {
    return listBudgets(this.writes);
  }

  deleteBudget(scope: BudgetScope): Promise<boolean> {
    return deleteBudget(this.writes, scope);
  }

  /** The scope's stored budget, or the default ($150 over UTC months) when it has none. */
  async budgetOf(scope: BudgetScope): Promise<{ budget: Budget; isDefault: boolean }> {
    const stored = await findBudget(this.reads, scope);
    if (stored) return { budget: stored, isDefault: false };
    return {
      budget: { scope, monthlyLimitUsd: DEFAULT_MONTHLY_BUDGET_USD, timeZone: "UTC", updatedAt: undefined },
      isDefault: true,
    };
  }

  async getBudgetStatus(scope: BudgetScope): Promise<BudgetStatus> {
    const { budget, isDefault } = await this.budgetOf(scope);
    const now = this.aggregation.now();
    const monthStart = await this.aggregation.startOf("month", budget.timeZone, now);
    const totals = await this.aggregation.totals({
      startTime: monthStart,
      userId: scope.kind === "user" ? scope.id : undefined,
      agentId: scope.kind === "agent" ? scope.id : undefined,
    });
    const today = localDate(now, budget.timeZone);
    return {
      ...measureBudget(budget, new Money(totals.costUsd), daysInMonth(today.year, today.month), today.day),
      defaultBudget: isDefault,
      monthStart,
      asOf: instantFromDate(now),
    };
  }
}

/**
 * The old get_budget_status rules with its bugs fixed: the real number of days in the month (not 30), today
 * counted as an elapsed day (so the 1st projects 1 day of spending, never divides by 0), remaining never negative
 * (overspent says by how much), and the same projection everywhere. Money stays exact; the burn rate and the
 * projection are rounded half-even to 6 decimal places and the percentages to 2, after every comparison is made on
 * exact values.
 */
export function measureBudget(
  budget: Budget,
  spent: Money,
  monthDays: number,
  daysElapsed: number,
): Omit<BudgetStatus, "defaultBudget" | "monthStart" | "asOf"> {
  const limit = new Money(budget.monthlyLimitUsd);
  const used = spent.times(100).div(limit); // exact enough: 60 significant digits
  const projected = spent.div(daysElapsed).times(monthDays);
  const projectedOver = projected.greaterThan(limit.times(PROJECTION_WARNING_FACTOR));
  const percent = percentOf(spent, limit);
  const money = (m: Money) => `$${m.toFixed(2, Money.ROUND_HALF_EVEN)}`; // display text only
  const alerts: BudgetAlert[] = [];
  let status: BudgetLevel = "healthy";
  if (used.greaterThanOrEqualTo(CRITICAL_PERCENT)) {
    status = "critical";
    alerts.push({
      level: "critical",
      message: `Budget exceeded! Spent ${money(spent)} of ${money(limit)}`,
      thresholdPercent: CRITICAL_PERCENT,
      currentPercent: percent,
      projection: false,
    });
  } else if (used.greaterThanOrEqualTo(HIGH_WARNING_PERCENT)) {
    status = "warning";
    alerts.push({
      level: "warning",
      message: `${HIGH_WARNING_PERCENT}% of monthly budget used (${money(spent)})`,
      thresholdPercent: HIGH_WARNING_PERCENT,
      currentPercent: percent,
      projection: false,
    });
  } else if (used.greaterThanOrEqualTo(WARNING_PERCENT)) {
    status = "warning";
    alerts.push({
      level: "warning",
      message: `Approaching budget limit at ${used.toDecimalPlaces(1, Money.ROUND_HALF_EVEN).toFixed(1)}%`,
      thresholdPercent: WARNING_PERCENT,
      currentPercent: percent,
      projection: false,
    });
  }
  if (projectedOver) {
    alerts.push({
      level: "warning",
      message: `Projected monthly cost ${money(projected)} exceeds budget`,
      thresholdPercent: CRITICAL_PERCENT,
      currentPercent: percentOf(projected, limit),
      projection: true,
    });
  }
  const remaining = limit.minus(spent);
  return {
    budget,
    spentUsd: formatMoney(spent),
    remainingUsd: formatMoney(remaining.isNegative() ? new Money(0) : remaining),
    overspentUsd: formatMoney(remaining.isNegative() ? remaining.negated() : new Money(0)),
    percentUsed: percent,
    percentUsedCapped: used.greaterThan(100) ? "100" : percent,
    daysInMonth: monthDays,
    daysElapsed,
    daysRemaining: monthDays - daysElapsed,
    dailyBurnRateUsd: divideMoney(spent, daysElapsed),
    projectedMonthEndUsd: formatMoney(projected.toDecimalPlaces(6, Money.ROUND_HALF_EVEN)),
    projectedOverBudget: projectedOver,
    status,
    alerts,
  };
}
