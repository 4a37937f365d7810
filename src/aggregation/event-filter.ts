import type { EventStatus } from "../ledger/ledger-event.js";
import type { Instant } from "../time.js";

/** Which ledger events an aggregation reads; undefined fields do not filter. The range is [startTime, endTime). */
export interface EventFilter {
  startTime?: Instant | undefined;
  endTime?: Instant | undefined;
  taskId?: string | undefined;
  agentId?: string | undefined;
  userId?: string | undefined;
  provider?: string | undefined;
  model?: string | undefined;
  operation?: string | undefined;
  status?: EventStatus | undefined;
}

/** The dimensions an aggregation can group by, as named on the wire. */
export const DIMENSIONS = ["task", "agent", "user", "provider", "model", "operation", "status", "agent_execution"] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** The ledger column of each dimension. */
export const DIMENSION_COLUMN = {
  task: "task_id",
  agent: "agent_id",
  user: "user_id",
  provider: "provider",
  model: "model",
  operation: "operation",
  status: "status",
  agent_execution: "agent_execution_id",
} as const satisfies Record<Dimension, string>;
export type DimensionColumn = (typeof DIMENSION_COLUMN)[Dimension];

/** The dimensions an EventFilter narrows by (its time range aside). */
export function filterDimensions(filter: EventFilter): Dimension[] {
  const used: Dimension[] = [];
  if (filter.taskId) used.push("task");
  if (filter.agentId) used.push("agent");
  if (filter.userId) used.push("user");
  if (filter.provider) used.push("provider");
  if (filter.model) used.push("model");
  if (filter.operation) used.push("operation");
  if (filter.status) used.push("status");
  return used;
}

/** Calendar bucket sizes, aligned in a time zone. */
export type TimeWindow = "hour" | "day" | "week" | "month";

/** Totals of a set of API calls, exact: money and token sums as decimal strings. */
export interface CostTotals {
  costUsd: string;
  callCount: string;
  inputTokens: string;
  cacheReadInputTokens: string;
  cacheWriteInputTokens: string;
  outputTokens: string;
  reasoningOutputTokens: string;
  unpricedCallCount: string;
}

export interface GroupTotals {
  key: string;
  totals: CostTotals;
}

export interface PeriodTotals {
  start: Instant;
  end: Instant;
  /** Local start time with its UTC offset, e.g. "2025-03-09T00:00:00-05:00". */
  label: string;
  totals: CostTotals;
}

/** A range word: how it maps to a time range is in resolvePeriod. */
export const PERIOD_WORDS = [
  "today",
  "week",
  "month",
  "last_1h",
  "last_24h",
  "last_7d",
  "last_30d",
  "last_90d",
  "all",
] as const;
export type PeriodWord = (typeof PERIOD_WORDS)[number];

/** Aliases the older dashboards and routes used for the same ranges. */
export const PERIOD_ALIASES: Record<string, PeriodWord> = {
  "1h": "last_1h",
  "24h": "last_24h",
  "1d": "last_24h",
  "7d": "last_7d",
  "30d": "last_30d",
  "90d": "last_90d",
};

/** True when the string names a time zone this process knows (IANA names, and "UTC"). */
export function isKnownTimeZone(zone: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(zone)) return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
