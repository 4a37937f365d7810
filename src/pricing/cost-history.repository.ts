import { sql, type Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import type { Instant } from "../time.js";

/** Which past calls make up a task's cost for an estimate. */
export interface CostHistoryFilter {
  operation: string | undefined;
  agentId: string | undefined;
  since: Instant | undefined;
}

/** The percentiles of past task costs, exact (nearest-rank over numeric). */
export interface CostHistoryRow {
  sampleSize: bigint;
  p50: string | undefined;
  p90: string | undefined;
  excludedUnpricedTasks: bigint;
}

/**
 * The cost of each past task counted from its API calls that match the filter, then the p50 and p90 over the tasks
 * whose matching calls were all priced (a task with an unpriced call has no known cost, so it is counted apart).
 * percentile_disc is used because it returns an actual task's numeric cost: percentile_cont would pass through
 * double precision and round.
 */
export async function taskCostPercentiles(db: Kysely<Database>, filter: CostHistoryFilter): Promise<CostHistoryRow> {
  let tasks = db
    .selectFrom("ledger_event")
    .select((eb) => [
      "task_id",
      eb.fn.sum<string | null>("cost_usd").as("cost"),
      sql<string>`count(*) filter (where cost_usd is null)`.as("unpriced_calls"),
    ])
    .where("kind", "=", "api_call")
    .where("task_id", "is not", null)
    .groupBy("task_id");
  if (filter.operation !== undefined) tasks = tasks.where("operation", "=", filter.operation);
  if (filter.agentId !== undefined) tasks = tasks.where("agent_id", "=", filter.agentId);
  if (filter.since !== undefined) tasks = tasks.where("occurred_at", ">=", filter.since);
  const row = await db
    .selectFrom(tasks.as("task"))
    .select([
      sql<string>`count(*) filter (where unpriced_calls = 0)`.as("sample_size"),
      sql<string | null>`percentile_disc(0.5) within group (order by cost) filter (where unpriced_calls = 0)`.as("p50"),
      sql<string | null>`percentile_disc(0.9) within group (order by cost) filter (where unpriced_calls = 0)`.as("p90"),
      sql<string>`count(*) filter (where unpriced_calls > 0)`.as("excluded"),
    ])
    .executeTakeFirstOrThrow();
  return {
    sampleSize: BigInt(row.sample_size),
    p50: row.p50 ?? undefined,
    p90: row.p90 ?? undefined,
    excludedUnpricedTasks: BigInt(row.excluded),
  };
}
