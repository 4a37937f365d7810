import { sql, type Kysely } from "kysely";
import type { DatabaseHandle } from "./database.js";
import type { Database } from "./schema.js";

/**
 * Where every query goes: the one place the read/write split is decided. server.ts (createImplementation) and
 * streaming.ts hand `writes` or `reads` to each service; nothing else chooses.
 *
 * - `writes`: the primary (DATABASE_URL, or the embedded database). The event writer and its idempotency lookups,
 *   the price catalog (a price must apply as soon as it is upserted), budget management, rollup folding, partition
 *   maintenance and retention, migrations and the change feed (LISTEN/NOTIFY: LISTEN is refused on a hot standby
 *   and NOTIFYs are not replicated) stay here: they write, or must see their own writes.
 * - `reads`: the read replica (READ_DATABASE_URL) when configured, else the primary itself. Every read-only
 *   question: aggregations, statistics, the dashboard, budget status, exports, estimates from history, and the
 *   WatchStats snapshots.
 * - `replica`: how to measure and wait for the replica's lag; undefined when reads go to the primary.
 */
export interface DatabaseRoutes {
  readonly writes: DatabaseHandle;
  readonly reads: DatabaseHandle;
  readonly replica: ReadReplica | undefined;
}

/** The routes of a primary and an optional read replica of it. */
export function databaseRoutes(primary: DatabaseHandle, readReplica: DatabaseHandle | undefined): DatabaseRoutes {
  if (!readReplica) return { writes: primary, reads: primary, replica: undefined };
  return { writes: primary, reads: readReplica, replica: new ReadReplica(primary.db, readReplica.db) };
}

/** Whether a database is a hot standby in recovery (a streaming replica), whose lag can be measured and waited for. */
export async function isHotStandby(db: Kysely<Database>): Promise<boolean> {
  const { rows } = await sql<{ standby: boolean }>`select pg_is_in_recovery() as standby`.execute(db);
  return rows[0]!.standby;
}

/** How far behind its primary a read replica was when it answered (see ReadReplicaStatus in aggregation.proto). */
export interface ReplicaStatus {
  /** Whether the read database is a hot standby in recovery; false: no lag can be measured (both figures 0). */
  standby: boolean;
  /** Bytes of WAL still to replay, as a decimal string; "0" when caught up. */
  lagBytes: string;
  /** Microseconds since the primary committed the last transaction replayed; "0" when caught up; undefined: unknown. */
  replayLagMicros: string | undefined;
}

/** The primary's WAL position that a catch-up waited for, and whether the replica reached it in time. */
export interface CatchUp {
  primaryLsn: string;
  reached: boolean;
}

/** Replica polls while waiting for it to replay a position: quick at first, then every 50 ms. */
const POLL_FIRST_MS = 2;
const POLL_MAX_MS = 50;

/** Lag measurement and read-your-writes waiting for a hot-standby streaming replica of the primary. */
export class ReadReplica {
  constructor(
    private readonly primary: Kysely<Database>,
    private readonly replica: Kysely<Database>,
  ) {}

  /** The primary's current WAL write position (pg_current_wal_lsn()), as text like "0/3000148". */
  async primaryLsn(): Promise<string> {
    const { rows } = await sql<{ lsn: string }>`select pg_current_wal_lsn()::text as lsn`.execute(this.primary);
    return rows[0]!.lsn;
  }

  /** Whether the replica has replayed the primary's WAL up to `lsn` (true when it is not a standby: nothing to wait for). */
  async hasReplayed(lsn: string): Promise<boolean> {
    const { rows } = await sql<{ reached: boolean }>`
      select coalesce(not pg_is_in_recovery() or pg_last_wal_replay_lsn() >= ${lsn}::pg_lsn, false) as reached`.execute(
      this.replica,
    );
    return rows[0]!.reached;
  }

  /**
   * Notes the primary's WAL position, then waits (polling, at most `timeoutMs`) until the replica has replayed it:
   * afterwards a read on the replica sees everything committed on the primary before this call.
   */
  async catchUp(timeoutMs: number): Promise<CatchUp> {
    const primaryLsn = await this.primaryLsn();
    const deadline = performance.now() + timeoutMs;
    let pause = POLL_FIRST_MS;
    for (;;) {
      if (await this.hasReplayed(primaryLsn)) return { primaryLsn, reached: true };
      const left = deadline - performance.now();
      if (left <= 0) return { primaryLsn, reached: false };
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
      pause = Math.min(pause * 2, POLL_MAX_MS);
    }
  }

  /** The lag now, against the primary's position now (for an answer about to be read from the replica). */
  async measure(): Promise<ReplicaStatus> {
    return this.statusAt(this.replica, await this.primaryLsn());
  }

  /**
   * The replica's lag behind a primary WAL position, read through `db` (the replica, or a transaction on it: as its
   * first statement, the lag describes the transaction's own snapshot).
   */
  async statusAt(db: Kysely<Database>, primaryLsn: string): Promise<ReplicaStatus> {
    const { rows } = await sql<{ standby: boolean; lag_bytes: string | null; replay_lag_us: string | null }>`
      with replica as (
        select pg_is_in_recovery() as standby,
               pg_wal_lsn_diff(${primaryLsn}::pg_lsn, pg_last_wal_replay_lsn()) as lag,
               pg_last_xact_replay_timestamp() as replayed_commit_time
      )
      select standby,
             case when standby then greatest(lag, 0)::int8 else 0 end as lag_bytes,
             case when not standby or lag <= 0 then 0
                  when replayed_commit_time is null then null
                  else greatest(0, floor(extract(epoch from clock_timestamp() - replayed_commit_time) * 1000000))::int8
             end as replay_lag_us
      from replica`.execute(db);
    const row = rows[0]!;
    return { standby: row.standby, lagBytes: row.lag_bytes ?? "0", replayLagMicros: row.replay_lag_us ?? undefined };
  }
}

/** An LSN ("16/B374D848") as a number, for comparing positions in code. */
export function lsnValue(lsn: string): bigint {
  const [high, low] = lsn.split("/");
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}
