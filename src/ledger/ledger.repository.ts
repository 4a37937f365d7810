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
} as const satisfies Partial<Record<keyof LedgerEventTable, string>>;
type InsertColumn = keyof typeof INSERT_COLUMNS;
const COLUMN_NAMES = Object.keys(INSERT_COLUMNS) as InsertColumn[];

/**
 * Inserts events whose request id is new, in one statement, and returns the request ids that were inserted. Rows
 * whose request id is already in the ledger are skipped.
 *
 * The rows travel as one array per column (`unnest`), so the statement has 23 parameters at any batch size: no
 * 65,535-parameter limit, one plan, and faster than VALUES. Known request ids are filtered out by an anti-join and
 * the rest inserted plainly, which costs PostgreSQL about a fifth less than ON CONFLICT's speculative insertion.
 * Only when a concurrent transaction inserts one of the same request ids in between does the unique index refuse
 * the statement; it is then run again with ON CONFLICT (request_id) DO NOTHING, which waits for that transaction
 * and skips its rows. Callers sort the rows by request id so that concurrent writers take the unique index's locks
 * in the same order and never deadlock. Callers also send each request id at most once per call.
 */
export async function insertNewEvents(db: Db, rows: readonly NewLedgerEventRow[]): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const arrays = sql.join(
    COLUMN_NAMES.map((column) => {
      const values = rows.map((row) => {
        const value = row[column];
        return value === undefined || value === null ? null : String(value);
      });
      return sql`${values}::${sql.raw(INSERT_COLUMNS[column])}[]`;
    }),
  );
  const columns = sql.join(COLUMN_NAMES.map((c) => sql.ref(c)));
  try {
    const result = await sql<{ request_id: string }>`
      insert into ledger_event (${columns})
      select * from unnest(${arrays}) as new_event (${columns})
      where not exists (select 1 from ledger_event known where known.request_id = new_event.request_id)
      returning request_id`.execute(db);
    return new Set(result.rows.map((r) => r.request_id));
  } catch (error) {
    if ((error as { code?: unknown }).code !== UNIQUE_VIOLATION) throw error;
    const result = await sql<{ request_id: string }>`
      insert into ledger_event (${columns})
      select * from unnest(${arrays})
      on conflict (request_id) do nothing
      returning request_id`.execute(db);
    return new Set(result.rows.map((r) => r.request_id));
  }
}

const UNIQUE_VIOLATION = "23505";

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
