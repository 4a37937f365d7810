import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import { findDroppedEventKeys, findStoredEvents, insertNewEvents, type NewLedgerEventRow, type StoredEventRow } from "./ledger.repository.js";
import { LedgerPartitions } from "./partitions.js";

/** How one row fared: stored now, already stored with the same content, or its request id taken by other content. */
export type WriteOutcome =
  | { status: "inserted" }
  | { status: "duplicate"; original: StoredEventRow }
  | { status: "reused" }
  /** Its request id names an event of a month retention has dropped (the key is kept so it is never stored twice). */
  | { status: "past retention"; occurredAt: string }
  /** The database refused this row's data (a bug upstream of the writer); its neighbours were written. */
  | { status: "failed"; error: Error };

export interface EventWriterOptions {
  /** The most rows one statement writes. Larger batches amortise more; 2,000 rows is ~1 MB of parameters. */
  maxBatchRows?: number;
  /**
   * How long rows may wait for company when a write slot is free, in milliseconds. 0 (the default) still groups
   * everything that arrived in the same turn of the event loop; while every slot is busy, rows simply queue and go
   * out together in the next statement, so under load batches grow by themselves.
   */
  maxWaitMs?: number;
  /** How many statements may run at once: 1 on PGlite (one connection), 2 on PostgreSQL (one builds, one runs). */
  maxConcurrentWrites?: number;
  /**
   * Called once per statement, after it committed, with the rows it inserted (never duplicates). The one place to
   * publish "these events were committed" (live stats, caches). It must not throw or block; errors are ignored.
   */
  onCommitted?: (rows: readonly NewLedgerEventRow[]) => void;
}

interface Pending {
  row: NewLedgerEventRow;
  /** An Error means the whole batch failed; a row's own failure is the outcome "failed". */
  settle(outcome: WriteOutcome | Error): void;
}

/** SQLSTATEs after which the whole statement is simply run again: deadlock and serialization failure. */
const RETRYABLE = new Set(["40P01", "40001"]);
const MAX_ATTEMPTS = 3;

/**
 * The ledger's one write path. It collects rows from concurrent callers (unary calls, stream chunks, batches) and
 * writes them in multi-row statements, so one commit carries many events: single-row commits cap near 2,000
 * events/s, shared ones do not. Each statement is atomic (a single INSERT ... SELECT FROM unnest), and a caller's
 * promise resolves only after the statement holding its rows has committed.
 *
 * Exactly-once: the request key table's primary key decides (ledger_request_key, one row per request id across
 * every month partition), so duplicates are caught across batches, clients, months and server replicas. Within one
 * statement a request id is written once; later rows with that id are compared with whatever the first one became.
 * A skipped row is a duplicate when its content hash and kind equal the stored event's, and a reuse otherwise. One
 * row never fails its neighbours: a statement that fails on a row's data is retried row by row, and only that row
 * fails.
 */
export class EventWriter {
  private readonly maxBatchRows: number;
  private readonly maxWaitMs: number;
  private readonly maxConcurrentWrites: number;
  private queue: Pending[] = [];
  private writing = 0;
  private scheduled = false;
  private readonly partitions: LedgerPartitions;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly options: EventWriterOptions = {},
  ) {
    this.maxBatchRows = options.maxBatchRows ?? 2_000;
    this.maxWaitMs = options.maxWaitMs ?? 0;
    this.maxConcurrentWrites = options.maxConcurrentWrites ?? 1;
    this.partitions = new LedgerPartitions(db);
  }

  /**
   * Writes rows (each with a unique id); resolves, once they are committed, with each row's outcome in order.
   * Rejects only when the ledger could not be written at all (for example the database is unreachable).
   */
  write(rows: readonly NewLedgerEventRow[]): Promise<WriteOutcome[]> {
    if (rows.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const outcomes: WriteOutcome[] = new Array(rows.length);
      let remaining = rows.length;
      let failed = false;
      rows.forEach((row, index) => {
        this.queue.push({
          row,
          settle(outcome) {
            if (failed) return;
            if (outcome instanceof Error) {
              failed = true;
              reject(outcome);
              return;
            }
            outcomes[index] = outcome;
            if (--remaining === 0) resolve(outcomes);
          },
        });
      });
      this.schedule();
    });
  }

  /** Starts statements while slots are free: at once when a batch is full, else after the wait. */
  private schedule(): void {
    if (this.scheduled || this.writing >= this.maxConcurrentWrites || this.queue.length === 0) return;
    this.scheduled = true;
    const start = () => {
      this.scheduled = false;
      while (this.writing < this.maxConcurrentWrites && this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatchRows);
        this.writing += 1;
        void this.writeBatch(batch).finally(() => {
          this.writing -= 1;
          this.schedule();
        });
      }
    };
    if (this.queue.length >= this.maxBatchRows) queueMicrotask(start);
    else if (this.maxWaitMs > 0) setTimeout(start, this.maxWaitMs);
    else setImmediate(start);
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    // The first row of each request id is written; the others follow its fate.
    const leaders = new Map<string, Pending>();
    const followers: Pending[] = [];
    for (const pending of batch) {
      if (leaders.has(pending.row.request_id)) followers.push(pending);
      else leaders.set(pending.row.request_id, pending);
    }
    const rows = [...leaders.values()].map((p) => p.row).sort((a, b) => (a.request_id < b.request_id ? -1 : 1));

    let inserted: Set<string>;
    let stored: Map<string, StoredEventRow>;
    let dropped = new Map<string, string>();
    try {
      inserted = await this.insertIsolatingBadRows(rows, leaders);
      const skipped = rows.filter((r) => !inserted.has(r.request_id) && leaders.has(r.request_id));
      stored = new Map(
        (await findStoredEvents(this.db, skipped.map((r) => r.request_id))).map((s) => [s.request_id, s]),
      );
      const unseen = skipped.filter((r) => !stored.has(r.request_id)).map((r) => r.request_id);
      if (unseen.length > 0) dropped = await findDroppedEventKeys(this.db, unseen);
    } catch (error) {
      for (const pending of [...leaders.values(), ...followers]) pending.settle(error as Error);
      return;
    }

    // What each request id now holds in the ledger, to judge the followers by.
    const holder = new Map<string, StoredEventRow>();
    const committed: NewLedgerEventRow[] = [];
    for (const [requestId, leader] of leaders) {
      if (inserted.has(requestId)) {
        committed.push(leader.row);
        holder.set(requestId, storedOf(leader.row));
        leader.settle({ status: "inserted" });
        continue;
      }
      const original = stored.get(requestId);
      if (!original) {
        const occurredAt = dropped.get(requestId);
        leader.settle(
          occurredAt !== undefined
            ? { status: "past retention", occurredAt }
            : { status: "failed", error: new Error(`request id ${requestId} was neither inserted nor found`) },
        );
        continue;
      }
      holder.set(requestId, original);
      leader.settle(judge(leader.row, original));
    }
    for (const follower of followers) {
      const original = holder.get(follower.row.request_id);
      const occurredAt = dropped.get(follower.row.request_id);
      follower.settle(
        original
          ? judge(follower.row, original)
          : occurredAt !== undefined
            ? { status: "past retention", occurredAt }
            : { status: "failed", error: new Error(`request id ${follower.row.request_id} could not be written`) },
      );
    }
    if (committed.length > 0 && this.options.onCommitted) {
      try {
        this.options.onCommitted(committed);
      } catch {
        // A subscriber's fault must not turn a committed write into a failure.
      }
    }
  }

  /**
   * Inserts the rows in one statement (run again on a deadlock or serialization failure). When the statement fails
   * on the data itself, the rows are written one by one so that only the bad row fails: it is settled with its error
   * and removed from `leaders`. Connection failures fail the whole batch, to be retried by the callers.
   */
  private async insertIsolatingBadRows(rows: NewLedgerEventRow[], leaders: Map<string, Pending>): Promise<Set<string>> {
    try {
      return await this.insertWithRetry(rows);
    } catch (error) {
      if (!isDataError(error)) throw error;
      if (rows.length === 1) {
        const requestId = rows[0]!.request_id;
        leaders.get(requestId)?.settle({ status: "failed", error: error as Error });
        leaders.delete(requestId);
        return new Set();
      }
      const inserted = new Set<string>();
      for (const row of rows) {
        for (const requestId of await this.insertIsolatingBadRows([row], leaders)) inserted.add(requestId);
      }
      return inserted;
    }
  }

  /**
   * Makes sure each row's month has its partition, then inserts. Run again on a deadlock or serialization failure,
   * and when a partition this process believed in is gone (another process's retention dropped it): the partitions
   * are read again first.
   */
  private async insertWithRetry(rows: NewLedgerEventRow[]): Promise<Set<string>> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.partitions.ensureFor(rows.map((r) => String(r.occurred_at)));
        return await insertNewEvents(this.db, rows);
      } catch (error) {
        const missingPartition = isMissingPartition(error);
        if (missingPartition) this.partitions.forget();
        if (attempt >= MAX_ATTEMPTS || !(missingPartition || RETRYABLE.has(sqlState(error) ?? ""))) throw error;
      }
    }
  }
}

function judge(row: NewLedgerEventRow, original: StoredEventRow): WriteOutcome {
  return original.content_hash === row.content_hash && original.kind === row.kind
    ? { status: "duplicate", original }
    : { status: "reused" };
}

function storedOf(row: NewLedgerEventRow): StoredEventRow {
  return {
    id: row.id,
    request_id: row.request_id,
    content_hash: row.content_hash,
    kind: row.kind,
    cost_usd: row.cost_usd ?? null,
    price_id: row.price_id ?? null,
    agent_execution_id: row.agent_execution_id ?? null,
  };
}

function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** 23514 with this message: no partition of the ledger holds the row's occurred_at. */
function isMissingPartition(error: unknown): boolean {
  return sqlState(error) === "23514" && /no partition of relation/.test((error as Error).message);
}

/** Data exceptions (class 22) and integrity violations other than the unique key we rely on (class 23). */
function isDataError(error: unknown): boolean {
  const state = sqlState(error);
  return state !== undefined && (state.startsWith("22") || (state.startsWith("23") && state !== "23505"));
}
