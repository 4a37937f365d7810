import { describe, expect, it } from "vitest";
import { Violations } from "../../src/errors.js";
import { Money, formatMoney } from "../../src/money.js";
import { priceUsage, type Price } from "../../src/pricing/price.js";
import { usageFromFields, type Usage } from "../../src/pricing/usage.js";

const price = (input: string, output: string, extra: Partial<Price> = {}): Price => ({
  id: "p",
  model: "m",
  provider: "x",
  effectiveFrom: "1970-01-01T00:00:00.000000Z",
  inputPerMillion: new Money(input),
  cacheReadInputPerMillion: undefined,
  cacheWriteInputPerMillion: undefined,
  outputPerMillion: new Money(output),
  reasoningOutputPerMillion: undefined,
  tier: undefined,
  source: "test",
  notes: undefined,
  ...extra,
});
const usage = (input: bigint, output: bigint, parts: Partial<Usage> = {}): Usage => ({
  inputTokens: input,
  cacheReadInputTokens: 0n,
  cacheWriteInputTokens: 0n,
  outputTokens: output,
  reasoningOutputTokens: 0n,
  ...parts,
});

describe("priceUsage", () => {
  it("prices gpt-4o-mini exactly: 1,000 in + 500 out at $0.15 / $0.60 per million", () => {
    const { cost, lineItems } = priceUsage(usage(1000n, 500n), price("0.15", "0.60"));
    expect(formatMoney(cost)).toBe("0.00045");
    expect(lineItems.map((i) => [i.kind, i.tokens, formatMoney(i.amount)])).toEqual([
      ["input", 1000n, "0.00015"],
      ["output", 500n, "0.0003"],
    ]);
  });

  it("bills cache reads at the cached rate: gpt-4o, 2,006 in of which 1,920 cached, 300 out = $0.005615", () => {
    const gpt4o = price("2.5", "10", { cacheReadInputPerMillion: new Money("1.25") });
    expect(formatMoney(priceUsage(usage(2006n, 300n, { cacheReadInputTokens: 1920n }), gpt4o).cost)).toBe("0.005615");
  });

  it("falls back to the input and output rates when a price has no cache or reasoning rate", () => {
    const { cost } = priceUsage(usage(100n, 1000n, { cacheReadInputTokens: 50n, reasoningOutputTokens: 800n }), price("2", "8"));
    expect(formatMoney(cost)).toBe("0.0082");
  });

  it("keeps 0.001615 as 0.001615: no float anywhere", () => {
    expect(formatMoney(priceUsage(usage(1615n, 0n), price("1", "0")).cost)).toBe("0.001615");
  });
});

describe("usageFromFields", () => {
  const fields = (over: Partial<Record<string, string>> = {}) => ({
    inputTokens: "10",
    cacheReadInputTokens: "0",
    cacheWriteInputTokens: "0",
    outputTokens: "5",
    reasoningOutputTokens: "0",
    ...over,
  });

  it("accepts a valid usage and keeps counts beyond 2^53 exact", () => {
    const v = new Violations();
    expect(usageFromFields(fields({ inputTokens: "900000000000" }), "usage", v)?.inputTokens).toBe(900000000000n);
    expect(v.list).toEqual([]);
  });

  it.each([
    [{ inputTokens: "-1" }, "usage.input_tokens", "must not be negative"],
    [{ outputTokens: "1.5" }, "usage.output_tokens", "must be a whole number"],
    [{ cacheReadInputTokens: "8", cacheWriteInputTokens: "3" }, "usage.cache_read_input_tokens", "must not exceed input_tokens"],
    [{ reasoningOutputTokens: "6" }, "usage.reasoning_output_tokens", "must not exceed output_tokens"],
    [{ inputTokens: "1000000000001" }, "usage.input_tokens", "must be at most"],
  ])("refuses %j naming %s", (over, field, reason) => {
    const v = new Violations();
    expect(usageFromFields(fields(over), "usage", v)).toBeUndefined();
    expect(v.list[0]?.field).toBe(field);
    expect(v.list[0]?.description).toContain(reason);
  });
});
