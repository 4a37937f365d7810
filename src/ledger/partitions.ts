import { sql, type Kysely } from "kysely";
import { foldRollups } from "../aggregation/rollup-folder.js";
import { readWatermark } from "../aggregation/rollup.repository.js";
import type { Database } from "../db/schema.js";
import type { Instant } from "../time.js";

/**
 * The ledger's monthly partitions (see migrations/20261203T170000Z_partition_ledger_by_month.sql): ledger_event_YYYY_MM
 * holds the events whose occurred_at falls in that UTC month. Partitions are created ahead of time by the service
 * (this month and the next MONTHS_AHEAD), and on demand for an older month the first time an event of it arrives
 * (imports of history). Retention drops whole months past the horizon.
 */

/** How many months after the current one always have their partition ready. */
export const MONTHS_AHEAD = 2;

/** A month as "YYYY-MM" (UTC). */
export type Month = string;

/** The UTC month of an instant ("2026-12-03T16:45:36.000000Z" -> "2026-12"). */
export function monthOf(instant: Instant | string): Month {
  return instant.slice(0, 7);
}

/** The instant a month starts. */
export function monthStart(month: Month): Instant {
  return `${month}-01T00:00:00.000000Z` as Instant;
}

/** The month `offset` months after (or before, when negative) the given one. */
export function addMonths(month: Month, offset: number): Month {
  const [year, monthNumber] = month.split("-").map(Number) as [number, number];
  const index = year * 12 + (monthNumber - 1) + offset;
  return `${String(Math.floor(index / 12)).padStart(4, "0")}-${String((index % 12) + 1).padStart(2, "0")}`;
}

/**
 * The retention horizon: the start of the UTC month `months` months before the one `now` is in. With 12, on
 * 2026-12-03 it is 2025-12-01T00:00:00Z: this month and the twelve before it are kept. Events before it are refused,
 * and the months before it are dropped.
 */
export function retentionHorizon(now: Date, months: number): Instant {
  return monthStart(addMonths(monthOf(now.toISOString()), -months));
}

/** The month partitions that exist now, oldest first. */
export async function listPartitions(db: Kysely<Database>): Promise<Month[]> {
  const { rows } = await sql<{ name: string }>`
    select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'ledger_event'::regclass`.execute(db);
  return rows
    .map((r) => /^ledger_event_(\d{4})_(\d{2})$/.exec(r.name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => `${m[1]}-${m[2]}`)
    .sort();
}

/** Creates the partitions of the given months that do not exist yet, in one short transaction. */
export async function createPartitions(db: Kysely<Database>, months: readonly Month[]): Promise<void> {
  if (months.length === 0) return;
  await db.transaction().execute(async (trx) => {
    // Creating a partition locks the ledger briefly; rather than queue every insert behind a long query, give up
    // (the write is retried by its caller) after a few seconds.
    await sql`set local lock_timeout = '5s'`.execute(trx);
    for (const month of [...months].sort()) {
      await sql`select ledger_event_ensure_partition(${monthStart(month)}::timestamptz)`.execute(trx);
    }
  });
}

/**
 * The event writer's view of the partitions: which months exist, so that a write only creates a partition when one
 * of its rows needs a month not seen before. Read from the catalog the first time, then kept up to date by the
 * creations made through it; `forget` re-reads it (another process may have dropped a month).
 */
export class LedgerPartitions {
  private known: Set<Month> | undefined;

  constructor(private readonly db: Kysely<Database>) {}

  /** Makes sure every given event time has its month's partition. */
  async ensureFor(instants: Iterable<string>): Promise<void> {
    this.known ??= new Set(await listPartitions(this.db));
    const missing = new Set<Month>();
    for (const instant of instants) {
      const month = monthOf(instant);
      if (!this.known.has(month)) missing.add(month);
    }
    if (missing.size === 0) return;
    await createPartitions(this.db, [...missing]);
    for (const month of missing) this.known.add(month);
  }

  forget(): void {
    this.known = undefined;
  }
}

/** What one retention pass did. */
export interface RetentionReport {
  /** The months dropped, oldest first. */
  droppedMonths: Month[];
  /** Months past the horizon kept for now because their rows could not all be folded into the rollups yet. */
  deferredMonths: Month[];
}

/** How many request keys one statement removes, so a month of keys goes in short transactions. */
const KEY_BATCH_ROWS = 50_000;

/**
 * Drops every month partition that ends at or before `horizon`. The rollups keep the month's sums: a month is only
 * dropped once all its rows are folded (a fold is run first). Its request keys are removed first, in batches through
 * the primary key (the key table is the ledger's one cross-month unique index, and the only place rows are deleted),
 * then the partition is detached and dropped in one short transaction. Events before the horizon are refused by the
 * write path, so a request id freed here can never be recorded twice. Safe to run from several processes at once.
 */
export async function dropExpiredPartitions(db: Kysely<Database>, horizon: Instant): Promise<RetentionReport> {
  const expired = (await listPartitions(db)).filter((month) => monthStart(addMonths(month, 1)) <= horizon);
  const report: RetentionReport = { droppedMonths: [], deferredMonths: [] };
  if (expired.length === 0) return report;
  await foldRollups(db);
  const watermark = await readWatermark(db);
  for (const month of expired) {
    const partition = partitionName(month);
    const { rows } = await sql<{ seq: string | null }>`select max(seq) as seq from ${sql.table(partition)}`.execute(db);
    if (rows[0]?.seq != null && BigInt(rows[0].seq) > watermark) {
      report.deferredMonths.push(month);
      continue;
    }
    await deleteRequestKeysOf(db, partition);
    const dropped = await db.transaction().execute(async (trx) => {
      await sql`set local lock_timeout = '5s'`.execute(trx);
      await sql`select pg_advisory_xact_lock(7310420152)`.execute(trx);
      const { rows: found } = await sql<{ r: string | null }>`select to_regclass(${partition})::text as r`.execute(trx);
      if (found[0]?.r == null) return false; // another process dropped it meanwhile
      await sql`alter table ledger_event detach partition ${sql.table(partition)}`.execute(trx);
      await sql`drop table ${sql.table(partition)}`.execute(trx);
      return true;
    });
    if (dropped) report.droppedMonths.push(month);
  }
  return report;
}

async function deleteRequestKeysOf(db: Kysely<Database>, partition: string): Promise<void> {
  let after = "0";
  for (;;) {
    const { rows } = await sql<{ last_seq: string | null }>`
      with batch as (
        select request_id, seq from ${sql.table(partition)} where seq > ${after} order by seq limit ${KEY_BATCH_ROWS}
      ), removed as (
        delete from ledger_request_key k using batch b where k.request_id = b.request_id
      )
      select max(seq) as last_seq from batch`.execute(db);
    const last = rows[0]?.last_seq;
    if (last == null) return;
    after = String(last);
  }
}

function partitionName(month: Month): string {
  return `ledger_event_${month.replace("-", "_")}`;
}
