import { loadConfig } from "../../config.js";
import { openDatabase } from "../../db/database.js";
import { migrateToLatest } from "../../db/migrator.js";
import { createLogger } from "../../logger.js";
import { startService } from "../../server.js";
import type { Command } from "../command.js";

const ENV_HELP: Array<[string, string]> = [["(environment)", "configured like npm start: DATABASE_URL, DATA_DIR, LISTEN_ADDRESS, ... (see README)"]];

export const serve: Command = {
  name: "serve",
  summary: "run the server (the same as npm start) until SIGINT or SIGTERM",
  usage: "",
  help: ENV_HELP,
  options: {},
  async run() {
    const config = loadConfig();
    const service = await startService({ config, logger: createLogger(config.logLevel) });
    await new Promise<void>((resolve) => {
      for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => resolve());
    });
    await service.close();
  },
};

export const migrate: Command = {
  name: "migrate",
  summary: "bring the configured database's schema up to date",
  usage: "",
  help: ENV_HELP,
  options: {},
  async run() {
    const config = loadConfig();
    const handle = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
    try {
      const applied = (await migrateToLatest(handle.db)).results?.map((r) => r.migrationName) ?? [];
      console.log(applied.length ? `applied ${applied.join(", ")}` : "already up to date");
    } finally {
      await handle.close();
    }
  },
};
