import { sql, type Kysely, type RawBuilder, type Transaction } from "kysely";
import type { Database } from "../db/schema.js";
import { ROLLUPS, type Rollup } from "./rollups.js";

type Db = Kysely<Database> | Transaction<Database>;

/** The advisory lock every ledger insert holds shared until it commits (see the rollups migration). */
const FOLD_LOCK = 7_310_420_151n;

/** The value columns of the rollups and of CostTotals, in one order. */
export const TOTAL_COLUMNS = [
  "cost_usd",
  "call_count",
  "input_tokens",
  "cache_read_input_tokens",
  "cache_write_input_tokens",
  "output_tokens",
  "reasoning_output_tokens",
  "unpriced_call_count",
] as const;

/** The rollups' watermark: every api_call with seq <= this is folded into every rollup, no other. */
export async function readWatermark(db: Db): Promise<bigint> {
  const { rows } = await sql<{ seq: string }>`select folded_through_seq as seq from rollup_watermark`.execute(db);
  return BigInt(rows[0]?.seq ?? "0");
}

/**
 * The highest seq below which every ledger row is committed. Taking the fold lock exclusively waits for every
 * transaction that is inserting ledger rows to end; the lock is released at once (the transaction ends). While it
 * waits, new inserts queue behind it, so it gives up after a second (LockTimeoutError) rather than stall ingestion
 * behind a long insert transaction; the next fold tries again.
 */
export async function committedSeq(db: Kysely<Database>): Promise<bigint> {
  return db.transaction().execute(async (trx) => {
    await sql`set local lock_timeout = '1s'`.execute(trx);
    await sql`select pg_advisory_xact_lock(${sql.raw(FOLD_LOCK.toString())})`.execute(trx);
    const { rows } = await sql<{ seq: string | null }>`select max(seq) as seq from ledger_event`.execute(trx);
    return BigInt(rows[0]?.seq ?? "0");
  });
}

/**
 * Folds the api_calls with seq in (watermark, min(target, watermark + maxRows)] into every rollup and moves the
 * watermark, in one transaction; the watermark row is locked first, so concurrent folders take turns. Returns how
 * many seq values the watermark moved, or undefined when there was nothing to fold.
 */
export async function foldNextChunk(db: Kysely<Database>, target: bigint, maxRows: bigint): Promise<bigint | undefined> {
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ seq: string }>`
      select folded_through_seq as seq from rollup_watermark for update`.execute(trx);
    const from = BigInt(rows[0]!.seq);
    if (from >= target) return undefined;
    const to = from + maxRows < target ? from + maxRows : target;
    // Enough memory to aggregate a chunk in a hash table instead of sorting it on disk.
    await sql`set local work_mem = '64MB'`.execute(trx);
    for (const rollup of ROLLUPS) await foldInto(trx, rollup, from, to);
    await sql`update rollup_watermark set folded_through_seq = ${to.toString()}, folded_at = now()`.execute(trx);
    return to - from;
  });
}

/** Adds the calls with seq in (from, to] to one rollup: summed per 15 minutes, and those sums per hour and per UTC day. */
async function foldInto(trx: Transaction<Database>, rollup: Rollup, from: bigint, to: bigint): Promise<void> {
  const dims = rollupColumns(rollup);
  const dimList = sql.join(dims.map((d) => sql.ref(d)));
  const keyed = sql.join(dims.map((d) => sql`coalesce(${sql.ref(d)}, '') as ${sql.ref(d)}`));
  const sums = sql.join(TOTAL_COLUMNS.map((c) => sql`sum(${sql.ref(c)}) as ${sql.ref(c)}`));
  const updates = sql.join(TOTAL_COLUMNS.map((c) => sql`${sql.ref(c)} = r.${sql.ref(c)} + excluded.${sql.ref(c)}`));
  await sql`
    with quarter as (
      select date_bin('15 minutes', occurred_at, timestamptz '2000-01-01 00:00:00+00') as bucket_start, ${keyed},
        coalesce(sum(cost_usd), 0) as cost_usd, count(*) as call_count,
        sum(input_tokens) as input_tokens, sum(cache_read_input_tokens) as cache_read_input_tokens,
        sum(cache_write_input_tokens) as cache_write_input_tokens, sum(output_tokens) as output_tokens,
        sum(reasoning_output_tokens) as reasoning_output_tokens, count(*) filter (where cost_usd is null) as unpriced_call_count
      from ledger_event
      where kind = 'api_call' and seq > ${from.toString()} and seq <= ${to.toString()}
      group by 1, ${dimList}
    ), every_grain as (
      select 900 as grain_seconds, * from quarter
      union all
      select 3600, date_bin('1 hour', bucket_start, timestamptz '2000-01-01 00:00:00+00'), ${dimList}, ${sums}
      from quarter group by 2, ${dimList}
      union all
      select 86400, date_bin('1 day', bucket_start, timestamptz '2000-01-01 00:00:00+00'), ${dimList}, ${sums}
      from quarter group by 2, ${dimList}
    )
    insert into ${sql.table(rollup.table)} as r (grain_seconds, bucket_start, ${dimList}, ${sql.join(TOTAL_COLUMNS.map((c) => sql.ref(c)))})
    select grain_seconds, bucket_start, ${dimList}, ${sql.join(TOTAL_COLUMNS.map((c) => sql.ref(c)))} from every_grain
    on conflict (grain_seconds, bucket_start, ${dimList}) do update set ${updates}
  `.execute(trx);
}

/** The key columns of a rollup besides its bucket. */
export function rollupColumns(rollup: Rollup): string[] {
  const column = { task: "task_id", agent: "agent_id", provider: "provider", model: "model", operation: "operation", status: "status" } as const;
  return rollup.dimensions.map((d) => column[d as keyof typeof column]);
}

/** Rollup state for operators and benchmarks: the watermark and how many rows each rollup holds. */
export async function rollupSizes(db: Db): Promise<Record<string, string>> {
  const parts: RawBuilder<unknown>[] = ROLLUPS.map(
    (r) => sql`select ${r.table} as name, count(*) as n from ${sql.table(r.table)}`,
  );
  const { rows } = await sql<{ name: string; n: string }>`${sql.join(parts, sql` union all `)}`.execute(db);
  const counts = new Map(rows.map((r) => [r.name, String(r.n)]));
  return Object.fromEntries(ROLLUPS.map((r) => [r.table, counts.get(r.table) ?? "0"]));
}
