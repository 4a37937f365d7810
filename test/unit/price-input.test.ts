import { describe, expect, it } from "vitest";
import { Violations } from "../../src/errors.js";
import { formatMoney, Money } from "../../src/money.js";
import { phaseTokens, presetPhases } from "../../src/pricing/legacy-plan.js";
import { parseLiteLlmEntry } from "../../src/pricing/litellm-import.js";
import { priceUsage, type Price } from "../../src/pricing/price.js";
import { ratesFromFields, samePricing, tierFrom } from "../../src/pricing/price-input.js";

const fields = (input: string, output: string, extra: Partial<Record<string, string>> = {}) => ({
  input,
  output,
  cacheReadInput: "",
  cacheWriteInput: "",
  reasoningOutput: "",
  ...extra,
});

describe("rates in a unit", () => {
  it("stores per-1K 0.0032 / 0.00971 as exactly 3.2 / 9.71 per million", () => {
    const v = new Violations();
    const rates = ratesFromFields(fields("0.0032", "0.00971"), "per_thousand_tokens", "rates", v);
    expect(v.list).toEqual([]);
    expect([formatMoney(rates!.inputPerMillion), formatMoney(rates!.outputPerMillion)]).toEqual(["3.2", "9.71"]);
  });

  it("converts per-token rates exactly", () => {
    const rates = ratesFromFields(fields("0.0000025", "0.00001", { cacheReadInput: "0.00000125" }), "per_token", "r", new Violations());
    expect([rates!.inputPerMillion, rates!.cacheReadInputPerMillion, rates!.outputPerMillion].map((m) => formatMoney(m!))).toEqual(["2.5", "1.25", "10"]);
  });

  it("refuses USD 0.001 or more per token as implausible, in any unit, and just below it is accepted", () => {
    const v = new Violations();
    ratesFromFields(fields("0.001", "0.0009999"), "per_token", "rates", v);
    ratesFromFields(fields("1", "0"), "per_thousand_tokens", "tier_rates", v);
    ratesFromFields(fields("1000", "999.99"), "per_million_tokens", "x", v);
    expect(v.list.map((x) => x.field)).toEqual(["rates.input", "tier_rates.input", "x.input"]);
  });

  it("refuses malformed, negative and exponent rates and missing required ones", () => {
    const v = new Violations();
    ratesFromFields(fields("-1", "1e-6", { cacheReadInput: "abc" }), "per_million_tokens", "rates", v);
    ratesFromFields(fields("", "1"), "per_million_tokens", "rates", v);
    expect(v.list.map((x) => x.field)).toEqual(["rates.input", "rates.cache_read_input", "rates.output", "rates.input"]);
  });

  it("requires a tier to price every kind the base prices explicitly", () => {
    const v = new Violations();
    const base = ratesFromFields(fields("3", "15", { cacheReadInput: "0.3" }), "per_million_tokens", "rates", v)!;
    const tier = ratesFromFields(fields("6", "22.5"), "per_million_tokens", "tier_rates", v)!;
    tierFrom(200_000n, tier, base, "tier_rates", v);
    expect(v.list.map((x) => x.field)).toEqual(["tier_rates.cache_read_input"]);
  });

  it("compares prices by value: 2.50 equals 2.5", () => {
    const a = { ...ratesFromFields(fields("2.50", "10"), "per_million_tokens", "r", new Violations())!, tier: undefined };
    const b = { ...ratesFromFields(fields("2.5", "10.0"), "per_million_tokens", "r", new Violations())!, tier: undefined };
    expect(samePricing(a, b)).toBe(true);
    expect(samePricing(a, { ...b, outputPerMillion: new Money(11) })).toBe(false);
  });
});

describe("whole-request tier", () => {
  const v = new Violations();
  const base = ratesFromFields(fields("3", "15"), "per_million_tokens", "r", v)!;
  const price: Price = {
    ...base,
    id: "p",
    model: "m",
    provider: "x",
    effectiveFrom: "1970-01-01T00:00:00.000000Z",
    tier: tierFrom(200_000n, ratesFromFields(fields("6", "22.50"), "per_million_tokens", "t", v), base, "t", v),
    source: "test",
    notes: undefined,
  };
  const usage = (input: bigint, cacheRead = 0n) => ({
    inputTokens: input,
    cacheReadInputTokens: cacheRead,
    cacheWriteInputTokens: 0n,
    outputTokens: 1000n,
    reasoningOutputTokens: 0n,
  });

  it("bills every token at the tier rates above the threshold: 250,000 in + 1,000 out = $1.5225", () => {
    const priced = priceUsage(usage(250_000n), price);
    expect(formatMoney(priced.cost)).toBe("1.5225");
    expect(priced.lineItems.every((i) => i.tierRate)).toBe(true);
  });

  it("applies the base rates at exactly the threshold", () => {
    const priced = priceUsage(usage(200_000n), price);
    expect(formatMoney(priced.cost)).toBe("0.615");
    expect(priced.lineItems.some((i) => i.tierRate)).toBe(false);
  });

  it("counts cache reads toward the threshold", () => {
    expect(priceUsage(usage(200_001n, 150_000n), price).lineItems[0]!.tierRate).toBe(true);
  });
});

describe("LiteLLM entries", () => {
  const at = "2026-01-01T00:00:00.000000Z";
  it("converts floats through their string form: 2.5e-06 per token is 2.5 per million", () => {
    const parsed = parseLiteLlmEntry(
      "gpt-4o",
      { mode: "chat", litellm_provider: "openai", input_cost_per_token: 2.5e-6, output_cost_per_token: 1e-5, cache_read_input_token_cost: 1.25e-6 },
      at,
    );
    expect("version" in parsed && [parsed.version.inputPerMillion, parsed.version.cacheReadInputPerMillion, parsed.version.outputPerMillion].map((m) => formatMoney(m!))).toEqual(["2.5", "1.25", "10"]);
  });

  it("reads an above-200k tier", () => {
    const parsed = parseLiteLlmEntry(
      "gemini-2.5-pro",
      {
        mode: "chat",
        litellm_provider: "vertex_ai-language-models",
        input_cost_per_token: 1.25e-6,
        output_cost_per_token: 1e-5,
        input_cost_per_token_above_200k_tokens: 2.5e-6,
        output_cost_per_token_above_200k_tokens: 1.5e-5,
        input_cost_per_token_above_200k_tokens_priority: 9e-6,
      },
      at,
    );
    expect("version" in parsed && parsed.version.tier?.thresholdInputTokens).toBe(200_000n);
    expect("version" in parsed && formatMoney(parsed.version.tier!.outputPerMillion)).toBe("15");
  });

  it.each([
    ["sample_spec", { mode: "chat" }, "sample_spec"],
    ["dall-e-3", { mode: "image_generation", litellm_provider: "openai" }, "image_generation"],
    ["x", { litellm_provider: "openai", input_cost_per_token: 1e-6 }, "no mode"],
    ["y", { mode: "chat", litellm_provider: "openai", input_cost_per_token: 1e-6 }, "missing output_cost_per_token"],
    ["azure_ai/jais-30b-chat", { mode: "chat", litellm_provider: "azure_ai", input_cost_per_token: 0.0032, output_cost_per_token: 0.00971 }, "implausible"],
    ["ollama/llama3", { mode: "chat", litellm_provider: "ollama", input_cost_per_token: 0, output_cost_per_token: 0 }, "ollama"],
  ])("skips %s with a reason", (key, entry, reason) => {
    const parsed = parseLiteLlmEntry(key, entry, at);
    expect("skipped" in parsed && parsed.skipped).toContain(reason);
  });
});

describe("legacy phase plans", () => {
  it("keeps the legacy per-phase token defaults, 1,000 for an unknown phase", () => {
    expect(presetPhases("balanced").map((p) => [p.operation, p.model, p.tokens])).toEqual([
      ["research", "ollama/mistral", 2000n],
      ["outline", "ollama/mistral", 1000n],
      ["draft", "gpt-3.5-turbo", 3000n],
      ["assess", "ollama/mistral", 1500n],
      ["refine", "gpt-3.5-turbo", 2000n],
      ["finalize", "ollama/mistral", 1000n],
    ]);
    expect(phaseTokens("image_selection")).toBe(500n);
    expect(phaseTokens("translate")).toBe(1000n);
  });
});
