// `npm run migrate`: brings the configured database (DATABASE_URL, or the embedded one in DATA_DIR) up to date.
import { loadConfig } from "../config.js";
import { openDatabase } from "./database.js";
import { migrateToLatest } from "./migrator.js";

const config = loadConfig();
const handle = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
try {
  const result = await migrateToLatest(handle.db);
  const applied = result.results?.map((r) => r.migrationName) ?? [];
  console.log(applied.length ? `applied ${applied.join(", ")}` : "already up to date");
} finally {
  await handle.close();
}
