import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider, type MigrationResultSet } from "kysely";
import type { Database } from "./schema.js";
import { splitSqlStatements } from "./sql-statements.js";

/** The folder of forward-only SQL migrations, named `YYYYMMDDTHHMMSSZ_description.sql` so names sort by time. */
export const MIGRATIONS_DIR = fileURLToPath(new URL("../../migrations/", import.meta.url));

/** Reads every `.sql` file of the migrations folder; each runs in its own transaction (Kysely's Migrator). */
export class SqlFileMigrationProvider implements MigrationProvider {
  constructor(private readonly dir: string = MIGRATIONS_DIR) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    const migrations: Record<string, Migration> = {};
    for (const file of (await readdir(this.dir)).filter((f) => f.endsWith(".sql")).sort()) {
      const statements = splitSqlStatements(await readFile(`${this.dir}/${file}`, "utf8"));
      migrations[file.replace(/\.sql$/, "")] = {
        async up(db: Kysely<unknown>) {
          for (const statement of statements) await sql.raw(statement).execute(db);
        },
      };
    }
    return migrations;
  }
}

/** Brings the schema up to the newest migration. Throws with the failing migration's error. */
export async function migrateToLatest(db: Kysely<Database>, dir?: string): Promise<MigrationResultSet> {
  const migrator = new Migrator({ db, provider: new SqlFileMigrationProvider(dir) });
  const result = await migrator.migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === "Error")?.migrationName ?? "unknown";
    throw new Error(`migration ${failed} failed: ${String(result.error)}`, { cause: result.error });
  }
  return result;
}
