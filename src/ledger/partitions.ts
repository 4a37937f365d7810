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
  /** The months dropped by this pass, oldest first. */
  droppedMonths: Month[];
  /** Months past the horizon kept for now because their rows could not all be folded into the rollups yet. */
  deferredMonths: Month[];
}

/** The advisory lock partition creation and dropping take, so concurrent processes take turns. */
const PARTITION_LOCK = sql.raw("7310420152");

/**
 * Retention: drops every month partition that ends at or before `horizon`, whole (DETACH PARTITION, then DROP
 * TABLE, in one short transaction per month); no ledger row is deleted one by one. The rollups keep the month's sums:
 * a month is only dropped once all its rows are folded (a fold is run first).
 *
 * The month's request keys are kept (ledger_request_key): they are what makes a retry of a dropped event, even one
 * that carries no time of its own and so would pass the horizon check, a REQUEST_ID_PAST_RETENTION instead of a second
 * recording. Safe to run from several processes at once.
 */
export async function applyRetention(db: Kysely<Database>, horizon: Instant): Promise<RetentionReport> {
  const expired = (await listPartitions(db)).filter((month) => monthStart(addMonths(month, 1)) <= horizon);
  const report: RetentionReport = { droppedMonths: [], deferredMonths: [] };
  if (expired.length === 0) return report;
  await foldRollups(db);
  const watermark = await readWatermark(db);
  for (const month of expired) {
    const partition = partitionName(month);
    const outcome = await db.transaction().execute(async (trx) => {
      await sql`set local lock_timeout = '5s'`.execute(trx);
      await sql`select pg_advisory_xact_lock(${PARTITION_LOCK})`.execute(trx);
      if (!(await isPartition(trx, partition))) return "gone"; // another process dropped it meanwhile
      const { rows } = await sql<{ seq: string | null }>`select max(seq) as seq from ${sql.table(partition)}`.execute(trx);
      if (rows[0]?.seq != null && BigInt(rows[0].seq) > watermark) return "unfolded";
      await sql`alter table ledger_event detach partition ${sql.table(partition)}`.execute(trx);
      await sql`drop table ${sql.table(partition)}`.execute(trx);
      return "dropped";
    });
    if (outcome === "dropped") report.droppedMonths.push(month);
    if (outcome === "unfolded") report.deferredMonths.push(month);
  }
  return report;
}

async function isPartition(db: Transaction<Database>, table: string): Promise<boolean> {
  const { rows } = await sql<{ attached: boolean }>`
    select exists (select 1 from pg_inherits where inhparent = 'ledger_event'::regclass and inhrelid = to_regclass(${table})) as attached`.execute(db);
  return rows[0]!.attached;
}

function partitionName(month: Month): string {
  return `ledger_event_${month.replace("-", "_")}`;
}
