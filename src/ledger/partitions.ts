import { sql, type Kysely, type Transaction } from "kysely";
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
  /** The months detached from the ledger by this pass, oldest first. */
  droppedMonths: Month[];
  /** Months past the horizon kept for now because their rows could not all be folded into the rollups yet. */
  deferredMonths: Month[];
}

/** How many request keys one statement removes, so a month of keys goes in short transactions. */
const KEY_BATCH_ROWS = 50_000;

/** The advisory lock partition creation, detaching and dropping take, so concurrent processes take turns. */
const PARTITION_LOCK = sql.raw("7310420152");

/**
 * Retention: detaches every month that ends at or before `horizon` from the ledger, then removes what was detached.
 * Safe to run from several processes at once.
 */
export async function applyRetention(db: Kysely<Database>, horizon: Instant): Promise<RetentionReport> {
  const report = await detachExpiredPartitions(db, horizon);
  await dropDetachedPartitions(db);
  return report;
}

/**
 * Takes every month partition that ends at or before `horizon` out of the ledger: one short transaction per month
 * (DETACH PARTITION), the whole month at once, no row deleted. The rollups keep the month's sums: a month is only
 * detached once all its rows are folded (a fold is run first). From that moment queries no longer see its rows.
 */
export async function detachExpiredPartitions(db: Kysely<Database>, horizon: Instant): Promise<RetentionReport> {
  const expired = (await listPartitions(db)).filter((month) => monthStart(addMonths(month, 1)) <= horizon);
  const report: RetentionReport = { droppedMonths: [], deferredMonths: [] };
  if (expired.length === 0) return report;
  await foldRollups(db);
  const watermark = await readWatermark(db);
  for (const month of expired) {
    const partition = partitionName(month);
    const detached = await db.transaction().execute(async (trx) => {
      await sql`set local lock_timeout = '5s'`.execute(trx);
      await sql`select pg_advisory_xact_lock(${PARTITION_LOCK})`.execute(trx);
      if (!(await isPartition(trx, partition))) return "gone"; // another process detached it meanwhile
      const { rows } = await sql<{ seq: string | null }>`select max(seq) as seq from ${sql.table(partition)}`.execute(trx);
      if (rows[0]?.seq != null && BigInt(rows[0].seq) > watermark) return "unfolded";
      await sql`alter table ledger_event detach partition ${sql.table(partition)}`.execute(trx);
      return "detached";
    });
    if (detached === "detached") report.droppedMonths.push(month);
    if (detached === "unfolded") report.deferredMonths.push(month);
  }
  return report;
}

/**
 * Removes the month tables detached from the ledger: first their request keys, in batches through the key's primary
 * key (the key table is the ledger's one cross-month unique index, and this the only place the service deletes
 * rows), then the table itself. Events before the horizon are refused by the write path, so a request id freed here
 * can never be recorded twice. A pass that stops half-way is finished by the next one. Returns the keys removed.
 */
export async function dropDetachedPartitions(db: Kysely<Database>): Promise<number> {
  const { rows: detached } = await sql<{ name: string }>`
    select relname as name from pg_class
    where relnamespace = 'public'::regnamespace and relkind = 'r' and not relispartition
      and relname ~ '^ledger_event_[0-9]{4}_[0-9]{2}$'
    order by 1`.execute(db);
  let removed = 0;
  for (const { name } of detached) {
    removed += await deleteRequestKeysOf(db, name);
    await db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${PARTITION_LOCK})`.execute(trx);
      await sql`drop table if exists ${sql.table(name)}`.execute(trx);
    });
  }
  return removed;
}

async function isPartition(db: Kysely<Database> | Transaction<Database>, table: string): Promise<boolean> {
  const { rows } = await sql<{ attached: boolean }>`
    select exists (select 1 from pg_inherits where inhparent = 'ledger_event'::regclass and inhrelid = to_regclass(${table})) as attached`.execute(db);
  return rows[0]!.attached;
}

async function deleteRequestKeysOf(db: Kysely<Database>, table: string): Promise<number> {
  let after = "0";
  let removed = 0;
  for (;;) {
    const { rows } = await sql<{ last_seq: string | null; removed: string }>`
      with batch as (
        select request_id, seq from ${sql.table(table)} where seq > ${after} order by seq limit ${KEY_BATCH_ROWS}
      ), removed as (
        delete from ledger_request_key k using batch b where k.request_id = b.request_id returning 1
      )
      select (select max(seq) from batch) as last_seq, (select count(*) from removed) as removed`.execute(db);
    const last = rows[0]?.last_seq;
    if (last == null) return removed;
    removed += Number(rows[0]!.removed);
    after = String(last);
  }
}

function partitionName(month: Month): string {
  return `ledger_event_${month.replace("-", "_")}`;
}
