import { formatMoney, Money } from "../money.js";
import type { Instant } from "../time.js";

/**
 * Budget state and threshold crossings for watched scopes, with the legacy rules (legacy-services.md, section 3):
 * warning from 80% used, critical from 100%, and a projection warning when the projected month-end cost exceeds
 * the budget by more than 10%.
 *
 * The budget amounts come from the budgets stored through SetBudget (see streaming.ts); `defaultBudgets` is the
 * legacy $150 for every scope, for tests of the rules alone.
 */

/** Whose monthly budget a watch follows. */
export type BudgetScope = { kind: "global" } | { kind: "user"; id: string } | { kind: "agent"; id: string };

/** Where monthly budgets come from. */
export interface BudgetSource {
  /** The monthly budget of a scope in USD. */
  monthlyBudgetUsd(scope: BudgetScope): Promise<Money>;
}

/** The legacy service's monthly budget (`CostAggregationService.monthly_budget`). */
export const DEFAULT_MONTHLY_BUDGET_USD = "150";

/** Every scope has the legacy default budget. */
export const defaultBudgets: BudgetSource = {
  monthlyBudgetUsd: async () => new Money(DEFAULT_MONTHLY_BUDGET_USD),
};

export type BudgetLevel = "healthy" | "warning" | "critical";
export type BudgetThreshold = "80" | "90" | "100" | "projection";

export interface BudgetState {
  scope: BudgetScope;
  monthlyBudgetUsd: string;
  spentUsd: string;
  percentUsed: number;
  projectedMonthEndUsd: string;
  level: BudgetLevel;
  projectionWarning: boolean;
  monthStart: Instant;
  /** The thresholds at or above which the state is, in ascending order. */
  reached: BudgetThreshold[];
}

export interface BudgetAlert {
  threshold: BudgetThreshold;
  state: BudgetState;
  message: string;
}

const DAY_MS = 86_400_000;

/**
 * The budget state from the month-to-date spend. `daysStarted` counts today (legacy: whole days elapsed + 1);
 * the projection scales the average per started day to the month's real length (legacy used 30 for every month).
 */
export function budgetState(input: {
  scope: BudgetScope;
  budget: Money;
  spent: Money;
  monthStart: Instant;
  monthEnd: Instant;
  now: Date;
}): BudgetState {
  const start = Date.parse(input.monthStart);
  const daysStarted = Math.max(1, Math.floor((input.now.getTime() - start) / DAY_MS) + 1);
  // Rounded, so a month with a daylight-saving change still has a whole number of days.
  const daysInMonth = Math.round((Date.parse(input.monthEnd) - start) / DAY_MS);
  const projected = input.spent.div(daysStarted).times(daysInMonth).toDecimalPlaces(6);
  const percent = input.budget.isZero() ? (input.spent.isZero() ? new Money(0) : new Money(Infinity)) : input.spent.div(input.budget).times(100);
  const projectionWarning = projected.greaterThan(input.budget.times("1.1"));
  const reached: BudgetThreshold[] = [];
  for (const threshold of ["80", "90", "100"] as const) if (percent.greaterThanOrEqualTo(threshold)) reached.push(threshold);
  if (projectionWarning) reached.push("projection");
  return {
    scope: input.scope,
    monthlyBudgetUsd: formatMoney(input.budget),
    spentUsd: formatMoney(input.spent),
    percentUsed: percent.toNumber(),
    projectedMonthEndUsd: formatMoney(projected),
    level: percent.greaterThanOrEqualTo(100) ? "critical" : percent.greaterThanOrEqualTo(80) ? "warning" : "healthy",
    projectionWarning,
    monthStart: input.monthStart,
    reached,
  };
}

/** The thresholds `current` has reached that `previous` had not, lowest first; none for a first state. */
export function budgetCrossings(previous: BudgetState | undefined, current: BudgetState): BudgetAlert[] {
  if (!previous) return [];
  const before = new Set(previous.reached);
  return current.reached
    .filter((threshold) => !before.has(threshold))
    .map((threshold) => ({ threshold, state: current, message: alertMessage(threshold, current) }));
}

const dollars = (usd: string) => `$${new Money(usd).toFixed(2)}`;

/** The legacy alert sentences, with the figures of the state. */
function alertMessage(threshold: BudgetThreshold, state: BudgetState): string {
  const spent = dollars(state.spentUsd);
  const budget = dollars(state.monthlyBudgetUsd);
  switch (threshold) {
    case "100":
      return `Budget exceeded! Spent ${spent} of ${budget}`;
    case "90":
      return `90% of monthly budget used (${spent} of ${budget})`;
    case "80":
      return `Approaching budget limit at ${state.percentUsed.toFixed(1)}% (${spent} of ${budget})`;
    case "projection":
      return `Projected monthly cost ${dollars(state.projectedMonthEndUsd)} exceeds budget ${budget}`;
  }
}
