import { sql, type Insertable, type Kysely, type Transaction } from "kysely";
import type { Database, LedgerEventTable } from "../db/schema.js";

type Db = Kysely<Database> | Transaction<Database>;
export type NewLedgerEventRow = Insertable<LedgerEventTable> & { request_id: string; content_hash: string };

/** The columns a new event row sets, with the SQL type of each (recorded_at and total_tokens are the database's). */
const INSERT_COLUMNS = {
  id: "uuid",
  request_id: "text",
  content_hash: "text",
  kind: "text",
  occurred_at: "timestamptz",
  task_id: "text",
  agent_id: "text",
  agent_execution_id: "text",
  user_id: "text",
  operation: "text",
  model: "text",
  provider: "text",
  endpoint: "text",
  input_tokens: "int8",
  cache_read_input_tokens: "int8",
  cache_write_input_tokens: "int8",
  output_tokens: "int8",
  reasoning_output_tokens: "int8",
  cost_usd: "numeric",
  price_id: "uuid",
  duration_ms: "int8",
  status: "text",
  error_message: "text",
  cost_source: "text",
} as const satisfies Partial<Record<keyof LedgerEventTable, string>>;
type InsertColumn = keyof typeof INSERT_COLUMNS;
const COLUMN_NAMES = Object.keys(INSERT_COLUMNS) as InsertColumn[];

/**
 * Inserts events whose request id is new, in one statement, and returns the request ids that were inserted. Rows
 * whose request id is already in the ledger (or being inserted by a concurrent transaction, which this waits for)
 * are skipped by ON CONFLICT DO NOTHING.
 *
 * The rows travel as one array per column (`unnest`), so the statement has one parameter per column at any batch size: no
 * 65,535-parameter limit, one plan, and faster than VALUES. (A plain INSERT filtered by an anti-join, retried with
 * ON CONFLICT only on a race, measured slower than ON CONFLICT itself; see docs/BENCHMARKS.md.) Rows are inserted
 * in the order given; callers sort them by request id so that concurrent writers take the unique index's locks in
 * the same order and never deadlock, and send each request id at most once per call.
 */
export async function insertNewEvents(db: Db, rows: readonly NewLedgerEventRow[]): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const arrays = COLUMN_NAMES.map((column) => {
    const values = rows.map((row) => {
      const value = row[column];
      return value === undefined || value === null ? null : String(value);
    });
    return sql`${values}::${sql.raw(INSERT_COLUMNS[column])}[]`;
  });
  const result = await sql<{ request_id: string }>`
    insert into ledger_event (${sql.join(COLUMN_NAMES.map((c) => sql.ref(c)))})
    select * from unnest(${sql.join(arrays)})
    on conflict (request_id) do nothing
    returning request_id`.execute(db);
  return new Set(result.rows.map((r) => r.request_id));
}

/** What a duplicate or a reuse is checked against: the stored event's identity and outcome. */
export interface StoredEventRow {
  id: string;
  request_id: string;
  content_hash: string;
  kind: "api_call" | "agent_execution";
  cost_usd: string | null;
  price_id: string | null;
  agent_execution_id: string | null;
}

/** The stored events under the given request ids (only the columns needed to answer a retry). */
export async function findStoredEvents(db: Db, requestIds: readonly string[]): Promise<StoredEventRow[]> {
  if (requestIds.length === 0) return [];
  const result = await sql<StoredEventRow>`
    select id, request_id, content_hash, kind, cost_usd, price_id, agent_execution_id
    from ledger_event where request_id = any(${[...requestIds]}::text[])`.execute(db);
  return result.rows;
}
