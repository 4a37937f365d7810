import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { openDatabase } from "../../src/db/database.js";
import { migrateToLatest } from "../../src/db/migrator.js";
import { adminQuery, databaseUrl } from "./postgres-admin.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** A gzip dump of a migrated PGlite database, which each test file loads instead of migrating again. */
    pgliteTemplatePath: string;
    /** The migrated template database on PostgreSQL; "" when no server is reachable (outside CI only). */
    postgresTemplate: string;
  }
}

/**
 * Migrates once per run, on both engines, and hands the results to the test files: a PGlite dump, and a
 * PostgreSQL template database that each file copies with CREATE DATABASE ... TEMPLATE.
 */
export default async function setup(project: TestProject) {
  const dir = await mkdtemp(join(tmpdir(), "costtracking-test-"));
  const pglite = await openDatabase({});
  await migrateToLatest(pglite.db);
  const dump = await pglite.pglite!.dumpDataDir("gzip");
  await pglite.close();
  const pgliteTemplatePath = join(dir, "template.tar.gz");
  await writeFile(pgliteTemplatePath, Buffer.from(await dump.arrayBuffer()));
  project.provide("pgliteTemplatePath", pgliteTemplatePath);

  let postgresTemplate = "";
  try {
    await adminQuery("select 1");
    postgresTemplate = `ct_template_${process.pid}`;
    await adminQuery(`drop database if exists ${postgresTemplate}`);
    await adminQuery(`create database ${postgresTemplate}`);
    const handle = await openDatabase({ databaseUrl: databaseUrl(postgresTemplate), maxConnections: 1 });
    await migrateToLatest(handle.db);
    await handle.close();
  } catch (error) {
    if (process.env.CI || process.env.REQUIRE_POSTGRES) throw new Error(`PostgreSQL is required but unreachable: ${String(error)}`);
    console.warn(`PostgreSQL unreachable (${String(error)}); running the storage tests on PGlite only`);
    postgresTemplate = "";
  }
  project.provide("postgresTemplate", postgresTemplate);

  return async () => {
    await rm(dir, { recursive: true, force: true });
    if (postgresTemplate) {
      const { rows } = await adminQuery(
        `select datname from pg_database where datname like 'ct_test_${process.pid}_%' or datname = '${postgresTemplate}'`,
      );
      for (const row of rows) await adminQuery(`drop database if exists ${row.datname} with (force)`);
    }
  };
}
