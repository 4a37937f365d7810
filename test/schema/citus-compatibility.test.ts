import { sql, type Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../src/db/schema.js";
import { createTestDatabase, ENGINES, type TestDatabase } from "../support/database.js";

/**
 * The schema's place in a Citus cluster (docs/SCALING.md): which tables would be distributed (and by which
 * column), which replicated to every node as reference tables, and which stay on the coordinator. Every table must be
 * named here, so a new table cannot be added without deciding where it goes; the rules below are the ones Citus
 * enforces (or needs for shard moves), checked on the live schema the migrations build.
 */
const CITUS_LAYOUT = {
  /** Distributed by request_id, co-located: an event and its request key always live on the same shard. */
  distributed: { ledger_event: "request_id", ledger_request_key: "request_id" } as Record<string, string>,
  /** Small, read by every node, changed rarely. */
  reference: ["model_price", "price_catalog_version", "budget"],
  /** On the coordinator only: the rollups and their watermark (one node, so one snapshot), and the migrator's own. */
  coordinatorLocal: [
    "rollup_watermark",
    "rollup_status",
    "rollup_provider_model",
    "rollup_operation",
    "rollup_agent",
    "rollup_task",
    "kysely_migration",
    "kysely_migration_lock",
  ],
  /**
   * Triggers on distributed tables (Citus runs them on the shards, not on the coordinator; docs/SCALING.md says
   * what replaces each one there).
   */
  triggersOnDistributed: [
    "ledger_event_hold_fold_lock",
    "ledger_event_reset_rollups_on_delete",
    "ledger_event_reset_rollups_on_truncate",
    "ledger_event_reset_rollups_on_update",
  ],
};

const distributedTables = Object.keys(CITUS_LAYOUT.distributed);

/** The tables of the public schema (partitions are part of their parent). */
async function tables(db: Kysely<Database>): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select relname as name from pg_class
    where relnamespace = 'public'::regnamespace and relkind in ('r', 'p') and not relispartition order by 1`.execute(db);
  return rows.map((r) => r.name);
}

/** A table and every partition under it, as regclass names. */
async function withPartitions(db: Kysely<Database>, table: string): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select relid::text as name from pg_partition_tree(${table}::regclass)`.execute(db);
  return rows.length > 0 ? rows.map((r) => r.name) : [table];
}

describe.each(ENGINES)("the schema's compatibility with Citus, on %s", (engine) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(engine);
    // A few months of partitions, as a real ledger has: rules hold for every partition, not only the parent.
    await sql`select ledger_event_ensure_partition(m) from generate_series(timestamptz '2025-01-01', '2025-04-01', interval '1 month') as m`.execute(database.db);
  });
  afterAll(() => database?.close());

  it("places every table: distributed, reference or coordinator-local, and no table twice", async () => {
    const placed = [...distributedTables, ...CITUS_LAYOUT.reference, ...CITUS_LAYOUT.coordinatorLocal];
    expect(new Set(placed).size).toBe(placed.length);
    expect(await tables(database.db)).toEqual([...placed].sort());
  });

  it("gives every distributed table its distribution column, NOT NULL and of one type, so they co-locate", async () => {
    const { rows } = await sql<{ table: string; column: string; type: string; not_null: boolean }>`
      select c.relname as table, a.attname as column, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as not_null
      from pg_attribute a join pg_class c on c.oid = a.attrelid
      where c.relnamespace = 'public'::regnamespace and c.relname = any(${distributedTables}::text[]) and a.attnum > 0
        and not a.attisdropped`.execute(database.db);
    for (const [table, column] of Object.entries(CITUS_LAYOUT.distributed)) {
      const attribute = rows.find((r) => r.table === table && r.column === column);
      expect(attribute, `${table}.${column}`).toMatchObject({ type: "text", not_null: true });
    }
  });

  it("includes the distribution column in every unique index and constraint of a distributed table and its partitions", async () => {
    let checked = 0;
    for (const [table, column] of Object.entries(CITUS_LAYOUT.distributed)) {
      for (const relation of await withPartitions(database.db, table)) {
        const { rows } = await sql<{ index: string; columns: string[] | string; has: boolean }>`
          select i.indexrelid::regclass::text as index,
                 array(select a.attname from pg_attribute a where a.attrelid = i.indrelid and a.attnum = any(i.indkey)) as columns,
                 exists (select 1 from pg_attribute a where a.attrelid = i.indrelid and a.attname = ${column}
                         and a.attnum = any(i.indkey)) as has
          from pg_index i
          where i.indrelid = ${relation}::regclass
            and (i.indisunique or i.indisexclusion)`.execute(database.db);
        for (const index of rows) {
          expect(index.has, `${index.index} on ${relation} (${String(index.columns)}) lacks ${column}`).toBe(true);
          checked += 1;
        }
      }
    }
    // the ledger's primary key on the parent and each partition, and the request key's
    expect(checked).toBeGreaterThanOrEqual(1 + 4 + 1);
  });

  it("gives every distributed and reference table a primary key (shard moves replicate by it)", async () => {
    const { rows } = await sql<{ table: string }>`
      select conrelid::regclass::text as table from pg_constraint where contype = 'p' and connamespace = 'public'::regnamespace`.execute(database.db);
    const withKey = new Set(rows.map((r) => r.table));
    for (const table of [...distributedTables, ...CITUS_LAYOUT.reference]) expect(withKey.has(table), table).toBe(true);
  });

  it("has no foreign key Citus refuses: none into a distributed table from elsewhere, and between distributed tables only on the distribution column", async () => {
    const { rows } = await sql<{ from_table: string; to_table: string; from_columns: string[] | string; to_columns: string[] | string }>`
      select c.conrelid::regclass::text as from_table, c.confrelid::regclass::text as to_table,
             array(select attname from pg_attribute where attrelid = c.conrelid and attnum = any(c.conkey)) as from_columns,
             array(select attname from pg_attribute where attrelid = c.confrelid and attnum = any(c.confkey)) as to_columns
      from pg_constraint c where c.contype = 'f' and c.connamespace = 'public'::regnamespace`.execute(database.db);
    const list = (v: string[] | string) => (Array.isArray(v) ? v : v.replace(/[{}]/g, "").split(","));
    for (const fk of rows) {
      const edge = `${fk.from_table} -> ${fk.to_table}`;
      const from = CITUS_LAYOUT.distributed[fk.from_table];
      const to = CITUS_LAYOUT.distributed[fk.to_table];
      if (to !== undefined) {
        // into a distributed table: only from a co-located distributed table, distribution column to distribution column
        expect(from, `${edge}: only a distributed table may reference one`).toBeDefined();
        expect(list(fk.from_columns), edge).toContain(from);
        expect(list(fk.to_columns), edge).toContain(to);
      } else if (CITUS_LAYOUT.coordinatorLocal.includes(fk.to_table)) {
        // into a coordinator-local table: only from another one (shards on the workers cannot see it)
        expect(CITUS_LAYOUT.coordinatorLocal, `${edge}: only a coordinator-local table may reference one`).toContain(fk.from_table);
      }
      // into a reference table: allowed from anywhere
    }
  });

  it("has on the distributed tables only the triggers docs/SCALING.md accounts for", async () => {
    const { rows } = await sql<{ name: string }>`
      select t.tgname as name from pg_trigger t join pg_class c on c.oid = t.tgrelid
      where c.relname = any(${distributedTables}::text[]) and c.relnamespace = 'public'::regnamespace and not t.tgisinternal
      order by 1`.execute(database.db);
    expect(rows.map((r) => r.name)).toEqual(CITUS_LAYOUT.triggersOnDistributed);
  });
});
