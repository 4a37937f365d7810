import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { inject } from "vitest";
import { openDatabase, type DatabaseHandle, type Engine } from "../../src/db/database.js";
import { adminQuery, databaseUrl } from "./postgres-admin.js";

/** The engines this run tests on: PGlite always, PostgreSQL when the global setup reached a server. */
export const ENGINES: Engine[] = inject("postgresTemplate") ? ["pglite", "postgres"] : ["pglite"];

/** A test database: a fresh, migrated, empty database of its own, dropped on close. */
export interface TestDatabase extends DatabaseHandle {
  /** The postgres:// URL on PostgreSQL (to start other processes on it); undefined on PGlite. */
  readonly url: string | undefined;
}

/** Creates a fresh migrated database on an engine, copied from the run's template (no migration per file). */
export async function createTestDatabase(engine: Engine): Promise<TestDatabase> {
  if (engine === "pglite") {
    const dump = await readFile(inject("pgliteTemplatePath"));
    const handle = await openDatabase({ loadDataDir: new Blob([dump]) });
    return { ...handle, url: undefined, close: () => handle.close() };
  }
  // Named after the run's template, so the global teardown can drop whatever a crashed file left behind.
  const name = `${inject("postgresTemplate").replace("ct_template_", "ct_test_")}_${randomBytes(6).toString("hex")}`;
  await createDatabaseFromTemplate(name, inject("postgresTemplate"));
  const url = databaseUrl(name);
  const handle = await openDatabase({ databaseUrl: url });
  return {
    ...handle,
    url,
    async close() {
      await handle.close();
      await adminQuery(`drop database if exists ${name} with (force)`);
    },
  };
}

/** CREATE DATABASE ... TEMPLATE, retried while another file's copy briefly holds the template. */
async function createDatabaseFromTemplate(name: string, template: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await adminQuery(`create database ${name} template ${template}`);
      return;
    } catch (error) {
      if (attempt >= 20 || !/being accessed by other users/.test(String(error))) throw error;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}
