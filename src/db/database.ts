import { mkdir } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import { Kysely, PostgresDialect } from "kysely";
import { PGliteDialect } from "kysely-pglite-dialect";
import pg from "pg";
import type { Database } from "./schema.js";

/** Which engine stores the ledger: a PostgreSQL server, or the embedded PGlite in a data directory. */
export type Engine = "postgres" | "pglite";

/** An open database: the Kysely handle every repository uses, and how to close it. */
export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  readonly engine: Engine;
  /** The PGlite instance on the embedded engine (for its listen API); undefined on PostgreSQL. */
  readonly pglite: PGlite | undefined;
  /** The pg pool on PostgreSQL (for dedicated LISTEN connections); undefined on PGlite. */
  readonly pool: pg.Pool | undefined;
  close(): Promise<void>;
}

/** PostgreSQL type OIDs whose text form we keep as strings, so no value passes through a JS float or Date. */
const INT8 = 20;
const NUMERIC = 1700;
const TIMESTAMPTZ = 1184;
const keepText = (value: string) => value;

export interface OpenDatabaseOptions {
  /** A postgres:// URL; without one the embedded engine is used. */
  databaseUrl?: string | undefined;
  /** The embedded engine's data directory; undefined keeps it in memory (tests). */
  dataDir?: string | undefined;
  /** A gzip dump of a PGlite data directory to start from (tests start from a migrated template). */
  loadDataDir?: Blob | undefined;
  /** The pg pool size on PostgreSQL. */
  maxConnections?: number;
}

/**
 * Opens the ledger database. Both engines return int8 and numeric as exact strings and timestamptz as text, and
 * both run their sessions in UTC, so the same queries give the same results on either.
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  if (options.databaseUrl) {
    const pool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: options.maxConnections ?? 10,
      options: "-c TimeZone=UTC",
      connectionTimeoutMillis: 5_000,
      types: {
        getTypeParser: ((oid: number, format?: "text" | "binary") =>
          oid === TIMESTAMPTZ || oid === INT8 || oid === NUMERIC
            ? keepText
            : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
      },
    });
    // A client that loses its server (a restart) emits 'error', checked out or idle; without a listener that would
    // crash the process. The loss still reaches callers: their query fails, and the pool replaces the client.
    pool.on("error", () => {});
    pool.on("connect", (client) => client.on("error", () => {}));
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, engine: "postgres", pglite: undefined, pool, close: () => db.destroy() };
  }

  if (options.dataDir) await mkdir(options.dataDir, { recursive: true });
  const pglite = await PGlite.create({
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}),
    parsers: { [INT8]: keepText, [NUMERIC]: keepText, [TIMESTAMPTZ]: keepText },
  });
  await pglite.exec("SET TimeZone = 'UTC'");
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  return {
    db,
    engine: "pglite",
    pglite,
    pool: undefined,
    async close() {
      await db.destroy();
      if (!pglite.closed) await pglite.close();
    },
  };
}
