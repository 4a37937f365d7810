import type { ColumnType, Generated } from "kysely";

/**
 * Column types as both drivers return them: `numeric` and `bigint` as exact strings (never JS numbers), and
 * `timestamptz` as PostgreSQL's text form in UTC (see database.ts), which keeps microseconds.
 */
type Numeric = string;
type BigIntText = ColumnType<string, string | number | bigint, string | number | bigint>;
type TimestampText = ColumnType<string, string, string>;

/** One version of a model's price. Versions are only added, never edited. See migrations/. */
export interface ModelPriceTable {
  id: string;
  model: string;
  provider: string;
  effective_from: TimestampText;
  input_usd_per_mtok: Numeric;
  cache_read_input_usd_per_mtok: Numeric | null;
  cache_write_input_usd_per_mtok: Numeric | null;
  output_usd_per_mtok: Numeric;
  reasoning_output_usd_per_mtok: Numeric | null;
  tier_threshold_input_tokens: BigIntText | null;
  tier_input_usd_per_mtok: Numeric | null;
  tier_cache_read_input_usd_per_mtok: Numeric | null;
  tier_cache_write_input_usd_per_mtok: Numeric | null;
  tier_output_usd_per_mtok: Numeric | null;
  tier_reasoning_output_usd_per_mtok: Numeric | null;
  source: string;
  notes: string | null;
  created_at: ColumnType<string, never, never>;
}

/** One row: a counter raised by a trigger on every catalog write, so a snapshot can tell it is stale. */
export interface PriceCatalogVersionTable {
  singleton: ColumnType<boolean, never, never>;
  version: BigIntText;
}

/** Every recorded event: API calls (kind 'api_call') and agent executions (kind 'agent_execution'). */
export interface LedgerEventTable {
  id: string;
  request_id: string;
  content_hash: string;
  kind: "api_call" | "agent_execution";
  occurred_at: TimestampText;
  recorded_at: ColumnType<string, never, never>;
  task_id: string | null;
  agent_id: string | null;
  agent_execution_id: string | null;
  user_id: string | null;
  operation: string | null;
  model: string | null;
  provider: string | null;
  endpoint: string | null;
  input_tokens: BigIntText;
  cache_read_input_tokens: BigIntText;
  cache_write_input_tokens: BigIntText;
  output_tokens: BigIntText;
  reasoning_output_tokens: BigIntText;
  total_tokens: ColumnType<string, never, never>;
  cost_usd: Numeric | null;
  price_id: string | null;
  duration_ms: BigIntText;
  status: "succeeded" | "failed" | "cancelled";
  error_message: string | null;
  /** NULL: priced from the catalog (price_id says which entry); "recorded": the caller's recorded_cost_usd. */
  cost_source: "recorded" | null;
}

/** A monthly budget per scope (see src/budgets/). */
export interface BudgetTable {
  scope_kind: "global" | "user" | "agent";
  scope_id: string;
  monthly_limit_usd: Numeric;
  time_zone: string;
  updated_at: ColumnType<string, never, string>;
}

export interface Database {
  model_price: ModelPriceTable;
  price_catalog_version: PriceCatalogVersionTable;
  ledger_event: LedgerEventTable;
  budget: BudgetTable;
}

export type { Generated };
