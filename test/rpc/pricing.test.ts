import { status } from "@grpc/grpc-js";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createCostTrackingClient,
  CostTrackingError,
  EventStatus,
  PriceResolution,
  QualityPreset,
  RateUnit,
  TokenKind,
  type CostTrackingClient,
  type DeepPartial,
  type UpsertModelPriceRequest,
} from "../../client/index.js";
import { DEFAULT_CONFIG } from "../../src/config.js";
import { silentLogger } from "../../src/logger.js";
import { startService, type RunningService } from "../../src/server.js";
import { ENGINES } from "../support/database.js";
import { fixedClock, startTestService, type TestService } from "../support/service.js";

const ts = (iso: string) => ({ seconds: String(Date.parse(iso) / 1000), nanos: 0 });
const rejection = (promise: Promise<unknown>) => promise.then(() => undefined, (e: unknown) => e as CostTrackingError);
const fieldsOf = (error: CostTrackingError | undefined) => error?.fieldViolations.map((v) => v.field);

/** A price per million tokens, in force from 2024-01-01 unless said otherwise. */
const perMillion = (
  model: string,
  provider: string,
  input: string,
  output: string,
  over: DeepPartial<UpsertModelPriceRequest> = {},
): DeepPartial<UpsertModelPriceRequest> => ({
  model,
  provider,
  effectiveTime: ts("2024-01-01T00:00:00Z"),
  rateUnit: RateUnit.RATE_UNIT_PER_MILLION_TOKENS,
  ...over,
  rates: { input, output, ...over.rates },
});

/** Base $3 / $15 and, above 200,000 input tokens, $6 / $22.50 for every token of the call. */
const longContextPrice = perMillion("long-context-model", "anthropic", "3", "15", {
  rates: { cacheReadInput: "0.30" },
  tierThresholdInputTokens: "200000",
  tierRates: { input: "6", output: "22.50", cacheReadInput: "0.60" },
});

describe.each(ENGINES)("pricing engine on %s", (engine) => {
  let t: TestService;
  const clock = fixedClock("2025-07-01T00:00:00Z");
  const upsert = (request: DeepPartial<UpsertModelPriceRequest>) => t.client.upsertModelPrice(request);

  beforeAll(async () => {
    // A one-hour staleness bound: every freshness seen below comes from invalidation, never from time passing.
    t = await startTestService(engine, { clock, config: { priceCatalogMaxStalenessMs: 3_600_000 } });
    await upsert(perMillion("gpt-4o", "openai", "2.50", "10", { rates: { cacheReadInput: "1.25" } }));
    await upsert(perMillion("gemini-2.5-flash", "google", "0.30", "2.50"));
    await upsert(perMillion("o3", "openai", "2", "8"));
    await upsert(perMillion("ft:gpt-4o-mini", "openai", "0.30", "1.20"));
    await upsert(perMillion("penny-model", "test", "1", "1"));
  });
  afterAll(() => t?.close());

  describe("CalculateCost", () => {
    it("prices gpt-4o with 1,920 of 2,006 input tokens cached and 300 output at $0.005615, with line items", async () => {
      const response = await t.client.calculateCost({
        model: "gpt-4o",
        usage: { inputTokens: "2006", cacheReadInputTokens: "1920", outputTokens: "300" },
      });
      expect(response.costUsd).toBe("0.005615");
      expect(response.lineItems).toEqual([
        { kind: TokenKind.TOKEN_KIND_INPUT, tokens: "86", rateUsdPerMillionTokens: "2.5", amountUsd: "0.000215", tierRate: false },
        { kind: TokenKind.TOKEN_KIND_CACHE_READ_INPUT, tokens: "1920", rateUsdPerMillionTokens: "1.25", amountUsd: "0.0024", tierRate: false },
        { kind: TokenKind.TOKEN_KIND_OUTPUT, tokens: "300", rateUsdPerMillionTokens: "10", amountUsd: "0.003", tierRate: false },
      ]);
      expect(response.price).toMatchObject({ model: "gpt-4o", provider: "openai", resolution: PriceResolution.PRICE_RESOLUTION_EXACT });
    });

    it("gives the same $0.005615 from OpenAI's chat and Responses usage objects", async () => {
      const chat = await t.client.calculateCost({
        model: "gpt-4o",
        openaiChatUsage: { promptTokens: "2006", completionTokens: "300", totalTokens: "2306", promptTokensDetails: { cachedTokens: "1920" } },
      });
      const responses = await t.client.calculateCost({
        model: "gpt-4o",
        openaiResponsesUsage: { inputTokens: "2006", outputTokens: "300", inputTokensDetails: { cachedTokens: "1920" } },
      });
      expect([chat.costUsd, responses.costUsd]).toEqual(["0.005615", "0.005615"]);
    });

    it("prices Gemini usageMetadata with thinking outside the candidates: 1,020 output tokens, $0.0025545", async () => {
      const response = await t.client.calculateCost({
        model: "gemini-2.5-flash",
        geminiUsageMetadata: { promptTokenCount: "15", candidatesTokenCount: "359", thoughtsTokenCount: "661", totalTokenCount: "1035" },
      });
      expect(response.costUsd).toBe("0.0025545");
      expect(response.lineItems.map((i) => [i.kind, i.tokens, i.amountUsd])).toEqual([
        [TokenKind.TOKEN_KIND_INPUT, "15", "0.0000045"],
        [TokenKind.TOKEN_KIND_OUTPUT, "359", "0.0008975"],
        [TokenKind.TOKEN_KIND_REASONING_OUTPUT, "661", "0.0016525"],
      ]);
    });

    it("prices o3 from OpenAI usage with 800 of 1,000 completion tokens reasoning at $0.0082", async () => {
      const response = await t.client.calculateCost({
        model: "o3",
        openaiChatUsage: { promptTokens: "100", completionTokens: "1000", completionTokensDetails: { reasoningTokens: "800" } },
      });
      expect(response.costUsd).toBe("0.0082");
    });

    it("prices openai/gpt-4o at gpt-4o's price: $0.0075, not $0 and not unpriced", async () => {
      const response = await t.client.calculateCost({ model: "openai/gpt-4o", usage: { inputTokens: "1000", outputTokens: "500" } });
      expect(response).toMatchObject({ costUsd: "0.0075", unpriced: false });
      expect(response.price).toMatchObject({ model: "gpt-4o", provider: "openai", resolution: PriceResolution.PRICE_RESOLUTION_PROVIDER_PREFIX });
    });

    it("prices a fine-tune of gpt-4o-mini with its own price: $0.0054", async () => {
      const response = await t.client.calculateCost({
        model: "ft:gpt-4o-mini-2024-07-18:acme:support:9xYz",
        usage: { inputTokens: "10000", outputTokens: "2000" },
      });
      expect(response.costUsd).toBe("0.0054");
      expect(response.price).toMatchObject({ model: "ft:gpt-4o-mini", resolution: PriceResolution.PRICE_RESOLUTION_FINE_TUNE });
    });

    it("never prices a fine-tune without a fine-tune price at its base model's price", async () => {
      const response = await t.client.calculateCost({ model: "ft:gpt-4o:acme::x1", usage: { inputTokens: "10000", outputTokens: "2000" } });
      expect(response).toMatchObject({ unpriced: true, lineItems: [] });
      expect(response.costUsd).toBeUndefined();
    });

    it("costs every ollama model 0, naming the ollama/* entry", async () => {
      for (const request of [
        { model: "ollama/llama3:8b" },
        { model: "mistral", provider: "ollama" },
      ]) {
        const response = await t.client.calculateCost({ ...request, usage: { inputTokens: "5000", outputTokens: "5000" } });
        expect(response).toMatchObject({ costUsd: "0", unpriced: false });
        expect(response.price).toMatchObject({ model: "ollama/*", provider: "ollama", resolution: PriceResolution.PRICE_RESOLUTION_LOCAL_MODEL });
      }
    });

    it("strips a :tag and a dated snapshot suffix only when the longer name has no price", async () => {
      await upsert(perMillion("llama3", "meta", "0.1", "0.2"));
      await upsert(perMillion("gpt-4o-2024-05-13", "openai", "5", "15"));
      const usage = { inputTokens: "1000000" };
      const tagged = await t.client.calculateCost({ model: "llama3:8b", usage });
      const dated = await t.client.calculateCost({ model: "gpt-4o-2024-08-06", usage });
      const ownPrice = await t.client.calculateCost({ model: "gpt-4o-2024-05-13", usage });
      expect([tagged.costUsd, tagged.price?.resolution]).toEqual(["0.1", PriceResolution.PRICE_RESOLUTION_TAG]);
      expect([dated.costUsd, dated.price?.model, dated.price?.resolution]).toEqual(["2.5", "gpt-4o", PriceResolution.PRICE_RESOLUTION_SNAPSHOT]);
      expect([ownPrice.costUsd, ownPrice.price?.resolution]).toEqual(["5", PriceResolution.PRICE_RESOLUTION_EXACT]);
    });

    it("applies a whole-request tier above 200,000 input tokens (cache included) and the base rates at exactly 200,000", async () => {
      await upsert(longContextPrice);
      const above = await t.client.calculateCost({ model: "long-context-model", usage: { inputTokens: "250000", outputTokens: "1000" } });
      const at = await t.client.calculateCost({ model: "long-context-model", usage: { inputTokens: "200000", outputTokens: "1000" } });
      expect(above.costUsd).toBe("1.5225");
      expect(above.lineItems.map((i) => [i.rateUsdPerMillionTokens, i.tierRate])).toEqual([["6", true], ["22.5", true]]);
      expect(at.costUsd).toBe("0.615");
      // Anthropic's input excludes the cache: 150,000 + 60,000 read = 210,000 input tokens, above the threshold.
      const cached = await t.client.calculateCost({
        model: "long-context-model",
        anthropicUsage: { inputTokens: "150000", cacheReadInputTokens: "60000", outputTokens: "1000" },
      });
      expect(cached.costUsd).toBe("0.9585"); // 150,000 x 6 + 60,000 x 0.6 + 1,000 x 22.5, per million
    });

    it("keeps 0.001615 as 0.001615", async () => {
      const response = await t.client.calculateCost({ model: "penny-model", usage: { inputTokens: "1615" } });
      expect(response.costUsd).toBe("0.001615");
    });

    it("answers an unknown model as unpriced", async () => {
      const response = await t.client.calculateCost({ model: "no-such-model", usage: { inputTokens: "10" } });
      expect(response).toMatchObject({ unpriced: true, lineItems: [] });
      expect(response.price).toBeUndefined();
    });

    it.each([
      ["no usage shape at all", { model: "gpt-4o" }, ["usage"]],
      [
        "a cached count larger than the prompt",
        { model: "gpt-4o", openaiChatUsage: { promptTokens: "10", completionTokens: "1", promptTokensDetails: { cachedTokens: "11" } } },
        ["openai_chat_usage.prompt_tokens_details.cached_tokens"],
      ],
      [
        "a Gemini cached count larger than the prompt",
        { model: "gpt-4o", geminiUsageMetadata: { promptTokenCount: "5", cachedContentTokenCount: "6" } },
        ["gemini_usage_metadata.cached_content_token_count"],
      ],
      ["negative Anthropic tokens", { model: "gpt-4o", anthropicUsage: { inputTokens: "-1" } }, ["anthropic_usage.input_tokens"]],
      ["a malformed time", { model: "gpt-4o", usage: { inputTokens: "1" }, time: { seconds: "1", nanos: -1 } }, ["time"]],
    ])("refuses %s with INVALID_ARGUMENT naming the field", async (_name, request, fields) => {
      const error = await rejection(t.client.calculateCost(request));
      expect(error?.code).toBe(status.INVALID_ARGUMENT);
      expect(fieldsOf(error)).toEqual(fields);
    });
  });

  describe("recorded calls", () => {
    it("records Gemini usage normalised (1,020 output tokens, 661 reasoning) with its cost", async () => {
      const response = await t.client.trackApiCall({
        taskId: "gemini-task",
        model: "gemini-2.5-flash",
        geminiUsageMetadata: { promptTokenCount: "15", candidatesTokenCount: "359", thoughtsTokenCount: "661" },
        status: EventStatus.EVENT_STATUS_SUCCEEDED,
        callTime: ts("2025-06-15T12:00:00Z"),
      });
      expect(response.costUsd).toBe("0.0025545");
      const row = await t.database.db.selectFrom("ledger_event").selectAll().where("id", "=", response.eventId).executeTakeFirstOrThrow();
      expect(row).toMatchObject({ input_tokens: "15", output_tokens: "1020", reasoning_output_tokens: "661", cost_usd: "0.0025545" });
    });

    it("sums ten calls of $0.0001 to exactly $0.001", async () => {
      for (let i = 0; i < 10; i++) {
        const call = await t.client.trackApiCall({
          taskId: "ten-tenths",
          model: "penny-model",
          usage: { inputTokens: "100" },
          status: EventStatus.EVENT_STATUS_SUCCEEDED,
          callTime: ts("2025-06-20T00:00:00Z"),
        });
        expect(call.costUsd).toBe("0.0001");
      }
      const { totals } = await t.client.aggregateByTask({ taskId: "ten-tenths" });
      expect(totals?.costUsd).toBe("0.001");
    });

    it("keeps a May call's May cost after a price raised on June 1, and prices a June call at the new price", async () => {
      await upsert(perMillion("june-model", "openai", "1", "2", { effectiveTime: ts("2025-01-01T00:00:00Z") }));
      const usage = { inputTokens: "1000000", outputTokens: "1000000" };
      const may = await t.client.trackApiCall({
        taskId: "may-task", model: "june-model", usage, status: EventStatus.EVENT_STATUS_SUCCEEDED, callTime: ts("2025-05-20T10:00:00Z"),
      });
      expect(may.costUsd).toBe("3");

      const raised = await upsert(perMillion("june-model", "openai", "2", "4", { effectiveTime: ts("2025-06-01T00:00:00Z") }));
      expect(raised.created).toBe(true);

      const june = await t.client.trackApiCall({
        taskId: "june-task", model: "june-model", usage, status: EventStatus.EVENT_STATUS_SUCCEEDED, callTime: ts("2025-06-02T10:00:00Z"),
      });
      expect(june.costUsd).toBe("6");
      expect(june.price?.priceId).toBe(raised.modelPrice?.priceId);
      expect((await t.client.aggregateByTask({ taskId: "may-task" })).totals?.costUsd).toBe("3");
      const mayRow = await t.database.db.selectFrom("ledger_event").select(["cost_usd", "price_id"]).where("id", "=", may.eventId).executeTakeFirstOrThrow();
      expect(mayRow).toEqual({ cost_usd: "3", price_id: may.price?.priceId });
      // Pricing a May time again still uses the May version; a late-recorded May call too.
      const calculated = await t.client.calculateCost({ model: "june-model", usage, time: ts("2025-05-31T23:59:59Z") });
      expect(calculated.costUsd).toBe("3");
    });

    it("records an unknown model as unpriced, with its tokens", async () => {
      const response = await t.client.trackApiCall({
        model: "mystery-model", usage: { inputTokens: "7" }, status: EventStatus.EVENT_STATUS_SUCCEEDED, callTime: ts("2025-06-01T00:00:00Z"),
      });
      expect(response).toMatchObject({ unpriced: true });
      expect(response.costUsd).toBeUndefined();
    });
  });

  describe("UpsertModelPrice", () => {
    it("stores a price entered per 1K tokens per million exactly: 0.0032 / 0.00971 -> 3.2 / 9.71, and 1,000 + 1,000 tokens cost $0.01291", async () => {
      const response = await upsert({
        model: "jais-30b-chat",
        provider: "azure_ai",
        effectiveTime: ts("2024-01-01T00:00:00Z"),
        rateUnit: RateUnit.RATE_UNIT_PER_THOUSAND_TOKENS,
        rates: { input: "0.0032", output: "0.00971" },
      });
      expect(response.modelPrice?.ratesUsdPerMillionTokens).toMatchObject({ input: "3.2", output: "9.71" });
      const cost = await t.client.calculateCost({ model: "jais-30b-chat", usage: { inputTokens: "1000", outputTokens: "1000" } });
      expect(cost.costUsd).toBe("0.01291");
    });

    it("refuses a per-token rate of $0.001 or more as implausible, storing nothing", async () => {
      const error = await rejection(
        upsert({ model: "implausible-model", provider: "x", rateUnit: RateUnit.RATE_UNIT_PER_TOKEN, rates: { input: "0.0032", output: "0.00971" } }),
      );
      expect(error?.code).toBe(status.INVALID_ARGUMENT);
      expect(fieldsOf(error)).toEqual(["rates.input", "rates.output"]);
      expect((await t.client.listModelPrices({ model: "implausible-model" })).modelPrices).toEqual([]);
    });

    it("is idempotent: the same version sent again adds nothing; a different one at the same time is ALREADY_EXISTS", async () => {
      const request = perMillion("idem-model", "openai", "1.5", "6", { effectiveTime: ts("2025-03-01T00:00:00Z"), notes: "first" });
      const first = await upsert(request);
      const again = await upsert(request);
      expect(first.created).toBe(true);
      expect(again).toMatchObject({ created: false, modelPrice: { priceId: first.modelPrice?.priceId } });
      // Equal to the version in force at a later time: nothing to add either.
      expect((await upsert({ ...request, effectiveTime: ts("2025-04-01T00:00:00Z") })).created).toBe(false);
      const conflict = await rejection(upsert(perMillion("idem-model", "openai", "2", "6", { effectiveTime: ts("2025-03-01T00:00:00Z") })));
      expect(conflict).toMatchObject({ code: status.ALREADY_EXISTS, reason: "PRICE_VERSION_EXISTS" });
      expect((await t.client.listModelPrices({ model: "idem-model" })).modelPrices).toHaveLength(1);
    });

    it.each([
      ["a missing rate unit", { model: "m", provider: "p", rates: { input: "1", output: "1" } }, ["rate_unit"]],
      ["a malformed effective time", perMillion("m", "p", "1", "1", { effectiveTime: { seconds: "1", nanos: 1_000_000_000 } }), ["effective_time"]],
      ["a missing model and provider", perMillion("", "", "1", "1"), ["model", "provider"]],
      ["an exponent and a negative rate", perMillion("m", "p", "1e-6", "-2"), ["rates.input", "rates.output"]],
      [
        "a tier without the cache-read rate its base has",
        perMillion("m", "p", "3", "15", { rates: { cacheReadInput: "0.3" }, tierThresholdInputTokens: "200000", tierRates: { input: "6", output: "22.5" } }),
        ["tier_rates.cache_read_input"],
      ],
      ["tier rates without a threshold", perMillion("m", "p", "3", "15", { tierRates: { input: "6", output: "22.5" } }), ["tier_threshold_input_tokens"]],
    ])("refuses %s with INVALID_ARGUMENT naming the field", async (_name, request, fields) => {
      const error = await rejection(upsert(request));
      expect(error?.code).toBe(status.INVALID_ARGUMENT);
      expect(fieldsOf(error)).toEqual(fields);
    });

    it("refuses to edit or delete a stored version, even in SQL", async () => {
      await expect(sql`update model_price set input_usd_per_mtok = 0 where model = 'gpt-4o'`.execute(t.database.db)).rejects.toThrow(/append-only/);
      await expect(sql`delete from model_price where model = 'gpt-4o'`.execute(t.database.db)).rejects.toThrow(/append-only/);
    });
  });

  describe("ListModelPrices", () => {
    it("pages through the legacy price list with opaque tokens, every version once, in order", async () => {
      const seen: string[] = [];
      let pageToken = "";
      let pages = 0;
      do {
        const page = await t.client.listModelPrices({ provider: "legacy", pageSize: 5, pageToken });
        seen.push(...page.modelPrices.map((p) => p.model));
        pageToken = page.nextPageToken;
        pages++;
      } while (pageToken !== "");
      expect(seen).toHaveLength(18);
      expect(pages).toBe(4);
      expect(new Set(seen).size).toBe(18);
      expect(seen).toEqual([...seen].sort()); // byte order on both engines
      const legacy35 = await t.client.listModelPrices({ provider: "legacy", model: "gpt-3.5-turbo" });
      expect(legacy35.modelPrices[0]).toMatchObject({
        ratesUsdPerMillionTokens: { input: "1.75", output: "1.75" },
        source: "legacy:MODEL_COSTS",
      });
    });

    it("lists every version of a model with its tier", async () => {
      await upsert(longContextPrice); // the same version as above: adds nothing when it exists
      const { modelPrices } = await t.client.listModelPrices({ model: "long-context-model" });
      expect(modelPrices).toHaveLength(1);
      expect(modelPrices[0]).toMatchObject({
        tierThresholdInputTokens: "200000",
        tierRatesUsdPerMillionTokens: { input: "6", output: "22.5", cacheReadInput: "0.6" },
        source: "api",
      });
    });

    it("refuses a malformed token, a token of another filter and a negative page size", async () => {
      const first = await t.client.listModelPrices({ provider: "legacy", pageSize: 1 });
      const errors = await Promise.all([
        rejection(t.client.listModelPrices({ pageToken: "not-a-token" })),
        rejection(t.client.listModelPrices({ provider: "openai", pageToken: first.nextPageToken })),
        rejection(t.client.listModelPrices({ pageSize: -1 })),
      ]);
      expect(errors.map(fieldsOf)).toEqual([["page_token"], ["page_token"], ["page_size"]]);
    });
  });

  describe("EstimateCost", () => {
    it.each([
      [QualityPreset.QUALITY_PRESET_FAST, "0", "0", "0"],
      [QualityPreset.QUALITY_PRESET_BALANCED, "0.00875", "0.007", "0.0105"],
      [QualityPreset.QUALITY_PRESET_QUALITY, "0.234625", "0.1877", "0.28155"],
    ])("gives the legacy calculator's preset %s: %s in [%s, %s]", async (preset, cost, low, high) => {
      const response = await t.client.estimateCost({ phasePlan: { preset } });
      expect(response).toMatchObject({ costUsd: cost, lowCostUsd: low, highCostUsd: high, unpricedItemCount: "0", totalTokens: "10500" });
      expect(response.items.map((i) => i.operation)).toEqual(["research", "outline", "draft", "assess", "refine", "finalize"]);
    });

    it("prices a phase plan with the legacy list, defaults for missing token counts, and 0 as 0", async () => {
      const response = await t.client.estimateCost({
        phasePlan: {
          phases: [
            { operation: "draft", model: "gpt-4" },
            { operation: "refine", model: "gpt-4", tokens: "0" },
            { operation: "translate", model: "claude-opus-3" },
            { operation: "polish", model: "no-such-model" },
          ],
        },
      });
      expect(response.items.map((i) => [i.usage?.inputTokens, i.costUsd])).toEqual([
        ["3000", "0.135"],
        ["0", "0"],
        ["1000", "0.045"],
        ["1000", undefined],
      ]);
      expect(response).toMatchObject({ costUsd: "0.18", unpricedItemCount: "1" });
      expect(response.items[0]!.price).toMatchObject({ provider: "legacy", model: "gpt-4" });
    });

    it("prices expected usage per model exactly, with the prices in force at the requested time", async () => {
      await upsert(perMillion("june-model", "openai", "1", "2", { effectiveTime: ts("2025-01-01T00:00:00Z") })); // as above
      const response = await t.client.estimateCost({
        time: ts("2025-05-01T00:00:00Z"),
        expectedUsage: {
          usages: [
            { model: "gpt-4o", operation: "draft", usage: { inputTokens: "2006", cacheReadInputTokens: "1920", outputTokens: "300" } },
            { model: "june-model", usage: { inputTokens: "1000000" } },
            { model: "unknown-model", usage: { inputTokens: "5" } },
          ],
        },
      });
      expect(response.items.map((i) => i.costUsd)).toEqual(["0.005615", "1", undefined]);
      expect(response).toMatchObject({ costUsd: "1.005615", unpricedItemCount: "1" });
      expect(response.lowCostUsd).toBeUndefined();
    });

    it("learns from history: p50 and p90 of past tasks of an operation, with the sample size", async () => {
      for (let i = 1; i <= 10; i++) {
        await t.client.trackApiCall({
          taskId: `hist-${i}`, operation: "summarise", model: "penny-model", usage: { inputTokens: String(i * 100) },
          status: EventStatus.EVENT_STATUS_SUCCEEDED, callTime: ts("2025-06-10T00:00:00Z"),
        });
      }
      await t.client.trackApiCall({
        taskId: "hist-unpriced", operation: "summarise", model: "mystery-model", usage: { inputTokens: "100" },
        status: EventStatus.EVENT_STATUS_SUCCEEDED, callTime: ts("2025-06-10T00:00:00Z"),
      });
      const response = await t.client.estimateCost({ history: { operation: "summarise" } });
      expect(response.costUsd).toBe("0.0005");
      expect(response.history).toEqual({ sampleSize: "10", p50CostUsd: "0.0005", p90CostUsd: "0.0009", excludedUnpricedTaskCount: "1" });
      const none = await t.client.estimateCost({ history: { agentId: "nobody" } });
      expect(none.costUsd).toBeUndefined();
      expect(none.history).toMatchObject({ sampleSize: "0" });
    });

    it.each([
      ["no basis", {}, ["basis"]],
      ["a plan with both a preset and phases", { phasePlan: { preset: QualityPreset.QUALITY_PRESET_FAST, phases: [{ operation: "a", model: "b" }] } }, ["phase_plan.preset"]],
      ["a history without operation or agent", { history: {} }, ["history.operation"]],
      ["an expected usage with a part larger than its whole", { expectedUsage: { usages: [{ model: "m", usage: { inputTokens: "1", cacheReadInputTokens: "2" } }] } }, ["expected_usage.usages[0].usage.cache_read_input_tokens"]],
      ["a negative phase token count", { phasePlan: { phases: [{ operation: "draft", model: "gpt-4", tokens: "-1" }] } }, ["phase_plan.phases[0].tokens"]],
    ])("refuses %s with INVALID_ARGUMENT naming the field", async (_name, request, fields) => {
      const error = await rejection(t.client.estimateCost(request));
      expect(error?.code).toBe(status.INVALID_ARGUMENT);
      expect(fieldsOf(error)).toEqual(fields);
    });
  });

  describe("the catalog snapshot", () => {
    /** A second server on the same database, as another instance of the service would be. */
    const second = async (config: Partial<typeof DEFAULT_CONFIG>): Promise<{ service: RunningService; client: CostTrackingClient }> => {
      const service = await startService({
        config: { ...DEFAULT_CONFIG, listenAddress: "127.0.0.1:0", shutdownGraceSeconds: 1, ...config },
        logger: silentLogger,
        database: t.database,
        clock,
      });
      return { service, client: createCostTrackingClient(`127.0.0.1:${service.port}`, { maxAttempts: 1 }) };
    };

    it("sees its own writes at once and another server's within its staleness bound (0 ms: at once)", async () => {
      const other = await second({ priceCatalogMaxStalenessMs: 0 });
      try {
        const usage = { inputTokens: "1000000" };
        // Both servers have loaded the catalog and know no price for the model.
        expect((await t.client.calculateCost({ model: "cross-model", usage })).unpriced).toBe(true);
        expect((await other.client.calculateCost({ model: "cross-model", usage })).unpriced).toBe(true);

        await other.client.upsertModelPrice(perMillion("cross-model", "test", "7", "7"));
        // The writer and a server that checks every time see it; the one-hour server keeps its snapshot, as documented.
        expect((await other.client.calculateCost({ model: "cross-model", usage })).costUsd).toBe("7");
        expect((await t.client.calculateCost({ model: "cross-model", usage })).unpriced).toBe(true);

        // A write through the one-hour server invalidates its snapshot at once, and it then sees every write.
        await t.client.upsertModelPrice(perMillion("cross-model-2", "test", "8", "8"));
        expect((await t.client.calculateCost({ model: "cross-model", usage })).costUsd).toBe("7");
        expect((await t.client.calculateCost({ model: "cross-model-2", usage })).costUsd).toBe("8");
      } finally {
        other.client.close();
        await other.service.close();
      }
    });

    it("prices every event of a batch sent right after an upsert at the new price (lookups join the check in flight)", async () => {
      // given a snapshot that knows no price for the model
      const usage = { inputTokens: "1000000" };
      expect((await t.client.calculateCost({ model: "batch-model", usage })).unpriced).toBe(true);

      // when its price is upserted, then a batch names it after other models (their lookups run concurrently)
      await upsert(perMillion("batch-model", "test", "4", "4"));
      const calls = ["gpt-4o", "o3", "gpt-4o", "batch-model"].map((model, i) => ({
        requestId: `batch-after-upsert-${i}`,
        model,
        usage,
        status: EventStatus.EVENT_STATUS_SUCCEEDED,
      }));
      const { summary } = await t.client.trackEvents({ events: calls.map((apiCall) => ({ apiCall })) });
      expect(summary?.acceptedCount).toBe("4");

      // then it was stored at the new price (a retry returns the stored event)
      expect(await t.client.trackApiCall(calls[3]!)).toMatchObject({ duplicate: true, costUsd: "4", unpriced: false });
    });

    it("applies a configured default price to models without one, naming it", async () => {
      const other = await second({ defaultPriceModel: "penny-model" });
      try {
        const response = await other.client.calculateCost({ model: "never-heard-of-it", usage: { inputTokens: "1000" } });
        expect(response).toMatchObject({ costUsd: "0.001", unpriced: false });
        expect(response.price).toMatchObject({ model: "penny-model", resolution: PriceResolution.PRICE_RESOLUTION_DEFAULT_PRICE });
        // A model with its own price keeps it.
        expect((await other.client.calculateCost({ model: "gpt-4o", usage: { inputTokens: "1000000" } })).costUsd).toBe("2.5");
      } finally {
        other.client.close();
        await other.service.close();
      }
    });
  });
});
