import type { Insertable, Kysely, Selectable, Transaction } from "kysely";
import type { Database, LedgerEventTable } from "../db/schema.js";

type Db = Kysely<Database> | Transaction<Database>;
export type LedgerEventRow = Selectable<LedgerEventTable>;
export type NewLedgerEventRow = Insertable<LedgerEventTable>;

/**
 * Inserts events whose request id is new, in one statement. Rows whose request id is already in the ledger are
 * skipped (ON CONFLICT DO NOTHING); returns the request ids that were inserted.
 */
export async function insertNewEvents(db: Db, rows: NewLedgerEventRow[]): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const inserted = await db
    .insertInto("ledger_event")
    .values(rows)
    .onConflict((oc) => oc.column("request_id").doNothing())
    .returning("request_id")
    .execute();
  return new Set(inserted.map((r) => r.request_id));
}

/** The events recorded under the given request ids. */
export async function findEventsByRequestIds(db: Db, requestIds: string[]): Promise<LedgerEventRow[]> {
  if (requestIds.length === 0) return [];
  return db.selectFrom("ledger_event").selectAll().where("request_id", "in", requestIds).execute();
}
