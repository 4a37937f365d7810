import type { Instant } from "../time.js";

/** What a budget covers: everything (id ""), one user, or one agent. */
export interface BudgetScope {
  kind: "global" | "user" | "agent";
  id: string;
}

/** A monthly budget over the calendar months of a time zone. */
export interface Budget {
  scope: BudgetScope;
  /** Exact decimal string, USD. */
  monthlyLimitUsd: string;
  timeZone: string;
  /** Undefined for the default budget, which is not stored. */
  updatedAt: Instant | undefined;
}

/** The monthly budget of a scope without its own: the old service's $150. */
export const DEFAULT_MONTHLY_BUDGET_USD = "150";

/** The old service's thresholds, in percent of the budget used. */
export const WARNING_PERCENT = 80;
export const HIGH_WARNING_PERCENT = 90;
export const CRITICAL_PERCENT = 100;
/** The projection warning fires when the month-end forecast exceeds the budget by more than this factor. */
export const PROJECTION_WARNING_FACTOR = "1.1";
