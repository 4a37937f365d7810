// `npm run prices:import -- <model_prices.json> [--effective <ISO time>] [--verbose]`
// Imports LiteLLM's model price map into the price catalog of the configured database (DATABASE_URL, or the
// embedded one in DATA_DIR), as versions in force from --effective (default: now). Prints how many models were
// added, updated and skipped, and why. A running server sees the new prices within PRICE_CATALOG_MAX_STALENESS_MS.
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "../config.js";
import { openDatabase } from "../db/database.js";
import { migrateToLatest } from "../db/migrator.js";
import { importLiteLlmPrices } from "../pricing/litellm-import.js";
import { PriceCatalogCache } from "../pricing/price-catalog-snapshot.js";
import { PriceCatalogService } from "../pricing/price-catalog.service.js";
import { instantFromDate } from "../time.js";

const usage = "usage: npm run prices:import -- <model_prices.json> [--effective 2026-01-01T00:00:00Z] [--verbose]";
let args;
try {
  args = parseArgs({
    allowPositionals: true,
    options: { effective: { type: "string" }, verbose: { type: "boolean", short: "v" }, help: { type: "boolean", short: "h" } },
  });
} catch (error) {
  console.error(`${(error as Error).message}\n${usage}`);
  process.exit(2);
}
const [file] = args.positionals;
if (args.values.help || !file) {
  console.error(usage);
  process.exit(args.values.help ? 0 : 2);
}
const effectiveDate = args.values.effective === undefined ? new Date() : new Date(args.values.effective);
if (Number.isNaN(effectiveDate.getTime()) || (args.values.effective !== undefined && !/Z$|[+-]\d{2}:?\d{2}$/.test(args.values.effective))) {
  console.error(`--effective must be an ISO-8601 time with a zone, for example 2026-01-01T00:00:00Z\n${usage}`);
  process.exit(2);
}

let config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(2);
}
const map = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
const handle = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
try {
  await migrateToLatest(handle.db);
  const catalog = new PriceCatalogService(handle.db, new PriceCatalogCache(handle.db, { maxStalenessMs: 0 }), randomUUID);
  const report = await importLiteLlmPrices(handle.db, catalog, map, instantFromDate(effectiveDate));
  console.log(
    `${file}: added ${report.added.length} models, updated ${report.updated.length}, skipped ${report.skipped.length} (prices in force from ${effectiveDate.toISOString()})`,
  );
  const byReason = new Map<string, string[]>();
  for (const { key, reason } of report.skipped) byReason.set(reason, [...(byReason.get(reason) ?? []), key]);
  for (const [reason, keys] of [...byReason.entries()].sort((a, b) => b[1].length - a[1].length)) {
    const shown = args.values.verbose ? keys : keys.slice(0, 3);
    console.log(`  skipped ${String(keys.length).padStart(5)}  ${reason}: ${shown.join(", ")}${shown.length < keys.length ? ", ..." : ""}`);
  }
  if (args.values.verbose) {
    for (const { key, detail } of report.skipped) if (detail) console.log(`  skipped  ${key}: ${detail}`);
    for (const key of report.added) console.log(`  added    ${key}`);
    for (const key of report.updated) console.log(`  updated  ${key}`);
  }
} finally {
  await handle.close();
}
