import { sql, type Insertable, type Kysely, type Transaction } from "kysely";
import type { Database, LedgerEventTable } from "../db/schema.js";
import { instantFromPg } from "../time.js";

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
 * Inserts events whose request id is new, in one statement, and returns the request ids that were inserted. The
 * statement first claims each request id in ledger_request_key (the ledger's one cross-partition unique key); rows
 * whose id is already claimed (or being claimed by a concurrent transaction, which this waits for) are skipped by
 * ON CONFLICT DO NOTHING, and only the rows whose claim succeeded are inserted into the partitioned ledger. One
 * statement, so a claim never outlives a failed insert.
 *
 * The rows travel as one array per column (`unnest`), so the statement has one parameter per column at any batch size: no
 * 65,535-parameter limit, one plan, and faster than VALUES. (A plain INSERT filtered by an anti-join, retried with
 * ON CONFLICT only on a race, measured slower than ON CONFLICT itself; see docs/BENCHMARKS.md.) Rows are claimed
 * in the order given; callers sort them by request id so that concurrent writers take the unique index's locks in
 * the same order and never deadlock, and send each request id at most once per call. Every row's month must have
 * its partition (src/ledger/partitions.ts).
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
  const columns = sql.join(COLUMN_NAMES.map((c) => sql.ref(c)));
  const result = await sql<{ request_id: string }>`
    with incoming as (
      select * from unnest(${sql.join(arrays)}) as incoming(${columns})
    ), claimed as (
      insert into ledger_request_key (request_id, occurred_at)
      select request_id, occurred_at from incoming
      on conflict (request_id) do nothing
      returning request_id
    )
    insert into ledger_event (${columns})
    select incoming.* from incoming join claimed using (request_id)
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
    select e.id, e.request_id, e.content_hash, e.kind, e.cost_usd, e.price_id, e.agent_execution_id
    from ledger_request_key k
    join ledger_event e on e.request_id = k.request_id and e.occurred_at = k.occurred_at
    where k.request_id = any(${[...requestIds]}::text[])`.execute(db);
  return result.rows;
}

/**
 * Of the given request ids, those whose key is kept but whose event is gone (its month was dropped by retention),
 * with the event time the key recorded.
 */
export async function findDroppedEventKeys(db: Db, requestIds: readonly string[]): Promise<Map<string, string>> {
  if (requestIds.length === 0) return new Map();
  const result = await sql<{ request_id: string; occurred_at: string }>`
    select k.request_id, k.occurred_at from ledger_request_key k
    where k.request_id = any(${[...requestIds]}::text[])
      and not exists (select 1 from ledger_event e where e.request_id = k.request_id and e.occurred_at = k.occurred_at)`.execute(db);
  return new Map(result.rows.map((r) => [r.request_id, instantFromPg(String(r.occurred_at))]));
}
