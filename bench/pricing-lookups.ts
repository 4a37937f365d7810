// `npm run bench:pricing`: how much the in-memory catalog snapshot saves on the hot path of every recorded call.
// On each engine (PGlite in memory; PostgreSQL when TEST_POSTGRES_URL or 127.0.0.1:5432 is reachable) it imports
// LiteLLM's price map (about 2,300 models) and prices the same mix of model names three ways, in this process:
//   baseline   one query per call, as the walking skeleton did (the newest version in force, by model)
//   snapshot   PricingService.quote with a 1,000 ms staleness bound (the default)
//   checked    PricingService.quote with a 0 ms bound (one one-row version query per call)
// and prints calls per second and the ratio to the baseline, as a Markdown table.
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import pg from "pg";
import { openDatabase, type DatabaseHandle } from "../src/db/database.js";
import { migrateToLatest } from "../src/db/migrator.js";
import { importLiteLlmPrices } from "../src/pricing/litellm-import.js";
import { PriceCatalogCache } from "../src/pricing/price-catalog-snapshot.js";
import { PriceCatalogService } from "../src/pricing/price-catalog.service.js";
import { PricingService } from "../src/pricing/pricing.service.js";
import type { Usage } from "../src/pricing/usage.js";

const CALLS = Number(process.env.BENCH_CALLS ?? 20_000);
const ADMIN_URL = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const MODELS = ["gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5", "gemini/gemini-2.5-pro", "o3", "openai/gpt-4o", "gpt-4o-2024-08-06"];
const AT = "2026-06-01T00:00:00.000000Z";
const usage: Usage = { inputTokens: 1200n, cacheReadInputTokens: 0n, cacheWriteInputTokens: 0n, outputTokens: 300n, reasoningOutputTokens: 0n };

async function measure(label: string, price: (model: string) => Promise<unknown>): Promise<[string, number]> {
  for (let i = 0; i < 500; i++) await price(MODELS[i % MODELS.length]!); // warm up
  const started = performance.now();
  for (let i = 0; i < CALLS; i++) await price(MODELS[i % MODELS.length]!);
  return [label, CALLS / ((performance.now() - started) / 1000)];
}

async function run(handle: DatabaseHandle): Promise<string[]> {
  await migrateToLatest(handle.db);
  const map = JSON.parse(await readFile(new URL("../../shared/data/model_prices_litellm.json", import.meta.url), "utf8"));
  await importLiteLlmPrices(handle.db, new PriceCatalogService(handle.db, new PriceCatalogCache(handle.db, { maxStalenessMs: 0 }), randomUUID), map, "2026-01-01T00:00:00.000000Z");
  const quoteWith = (maxStalenessMs: number) => {
    const pricing = new PricingService(new PriceCatalogCache(handle.db, { maxStalenessMs }), { defaultPriceModel: undefined });
    return (model: string) => pricing.quote(model, undefined, usage, AT);
  };
  const results = [
    await measure("baseline: one query per call", (model) =>
      handle.db.selectFrom("model_price").selectAll().where("model", "=", model).where("effective_from", "<=", AT)
        .orderBy("effective_from", "desc").limit(1).executeTakeFirst()),
    await measure("snapshot, 1,000 ms staleness (default)", quoteWith(1000)),
    await measure("snapshot, 0 ms staleness (version query per call)", quoteWith(0)),
  ];
  const baseline = results[0]![1];
  return results.map(([label, rate]) => `| ${handle.engine} | ${label} | ${Math.round(rate).toLocaleString("en")} | ${(rate / baseline).toFixed(1)}x |`);
}

const rows = ["| engine | lookup | calls/s | vs baseline |", "| --- | --- | ---: | ---: |"];
const pglite = await openDatabase({});
try {
  rows.push(...(await run(pglite)));
} finally {
  await pglite.close();
}
const name = `ct_bench_pricing_${process.pid}`;
const admin = async (text: string) => {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
};
try {
  await admin(`create database ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const postgres = await openDatabase({ databaseUrl: url.toString() });
  try {
    rows.push(...(await run(postgres)));
  } finally {
    await postgres.close();
    await admin(`drop database if exists ${name} with (force)`);
  }
} catch (error) {
  console.error(`PostgreSQL skipped: ${String(error)}`);
}
console.log(`${CALLS.toLocaleString("en")} pricings per row, ${MODELS.length} model names (exact, prefixed, dated)\n`);
console.log(rows.join("\n"));
