import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PriceResolution, TokenKind } from "../../client/index.js";
import { importLiteLlmPrices, type ImportReport } from "../../src/pricing/litellm-import.js";
import { PriceCatalogCache } from "../../src/pricing/price-catalog-snapshot.js";
import { PriceCatalogService } from "../../src/pricing/price-catalog.service.js";
import { ENGINES } from "../support/database.js";
import { startTestService, type TestService } from "../support/service.js";

const LITELLM_FILE = new URL("../../../shared/data/model_prices_litellm.json", import.meta.url);
const ts = (iso: string) => ({ seconds: String(Date.parse(iso) / 1000), nanos: 0 });

describe.each(ENGINES)("importing LiteLLM's price map on %s", (engine) => {
  let t: TestService;
  let map: Record<string, unknown>;
  let first: ImportReport;
  // What `npm run prices:import` does, against the test server's database (the import is a separate process there).
  const runImport = (data: Record<string, unknown>, effective: string) =>
    importLiteLlmPrices(
      t.database.db,
      new PriceCatalogService(t.database.db, new PriceCatalogCache(t.database.db, { maxStalenessMs: 0 }), randomUUID),
      data,
      effective,
    );

  beforeAll(async () => {
    // Staleness 0: the server sees the import's commit on its next pricing, as any server does within its bound.
    t = await startTestService(engine, { config: { priceCatalogMaxStalenessMs: 0 } });
    map = JSON.parse(await readFile(LITELLM_FILE, "utf8")) as Record<string, unknown>;
    first = await runImport(map, "2026-01-01T00:00:00.000000Z");
  });
  afterAll(() => t?.close());

  it("adds the token-priced models and says why it skipped every other entry", () => {
    expect(first.added.length + first.updated.length + first.skipped.length).toBe(Object.keys(map).length);
    expect(first.added).toHaveLength(2312);
    expect(first.updated).toEqual([]);
    const reasons = new Map(first.skipped.map((s) => [s.key, s.reason]));
    expect(reasons.get("sample_spec")).toMatch(/not a model/);
    expect(reasons.get("dall-e-3")).toMatch(/mode "image_generation"/);
    expect(reasons.get("azure_ai/jais-30b-chat")).toMatch(/implausible/);
    expect(reasons.get("ollama/llama2")).toMatch(/ollama/);
    expect(reasons.get("gpt-4o-mini")).toBe("unchanged"); // the seeded launch price is LiteLLM's price
  });

  it("adds nothing when the same file is imported again", async () => {
    const again = await runImport(map, "2026-02-01T00:00:00.000000Z");
    expect([again.added.length, again.updated.length]).toEqual([0, 0]);
    expect(again.skipped.filter((s) => s.reason === "unchanged")).toHaveLength(2313);
  });

  it("adds a version for a changed price (updated), in force from the import's time only", async () => {
    const changed = { ...map, o3: { ...(map.o3 as object), input_cost_per_token: 1e-6 } };
    const report = await runImport(changed, "2026-03-01T00:00:00.000000Z");
    expect(report.updated).toEqual(["o3"]);
    const usage = { inputTokens: "1000000" };
    const before = await t.client.calculateCost({ model: "o3", usage, time: ts("2026-02-15T00:00:00Z") });
    const after = await t.client.calculateCost({ model: "o3", usage, time: ts("2026-03-15T00:00:00Z") });
    expect([before.costUsd, after.costUsd]).toEqual(["2", "1"]);
  });

  it("prices imported models exactly, with their cache and long-context tier rates", async () => {
    const claude = await t.client.calculateCost({
      model: "claude-sonnet-4-5",
      provider: "anthropic",
      anthropicUsage: { inputTokens: "1000", cacheCreationInputTokens: "2000", cacheReadInputTokens: "10000", outputTokens: "500" },
      time: ts("2026-06-01T00:00:00Z"),
    });
    expect(claude.lineItems.map((i) => [i.kind, i.rateUsdPerMillionTokens])).toEqual([
      [TokenKind.TOKEN_KIND_INPUT, "3"],
      [TokenKind.TOKEN_KIND_CACHE_READ_INPUT, "0.3"],
      [TokenKind.TOKEN_KIND_CACHE_WRITE_INPUT, "3.75"],
      [TokenKind.TOKEN_KIND_OUTPUT, "15"],
    ]);
    expect(claude.costUsd).toBe("0.021"); // 1,000 x 3 + 10,000 x 0.3 + 2,000 x 3.75 + 500 x 15, per million
    const longPrompt = await t.client.calculateCost({
      model: "gemini/gemini-2.5-pro",
      usage: { inputTokens: "250000", outputTokens: "1000" },
      time: ts("2026-06-01T00:00:00Z"),
    });
    expect(longPrompt.lineItems.map((i) => [i.rateUsdPerMillionTokens, i.tierRate])).toEqual([["2.5", true], ["15", true]]);
    expect(longPrompt.price).toMatchObject({ model: "gemini/gemini-2.5-pro", resolution: PriceResolution.PRICE_RESOLUTION_EXACT });
  });

  it("leaves calls before the import priced as they were", async () => {
    const before = await t.client.calculateCost({ model: "o3", usage: { inputTokens: "1" }, time: ts("2025-12-31T00:00:00Z") });
    expect(before.unpriced).toBe(true);
  });
});
