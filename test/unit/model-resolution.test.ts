import { describe, expect, it } from "vitest";
import { Money } from "../../src/money.js";
import { candidates, resolvePrice, withoutSnapshot, withoutTag } from "../../src/pricing/model-resolution.js";
import type { Price } from "../../src/pricing/price.js";

const entry = (model: string, provider: string): Price => ({
  id: `${provider}/${model}`,
  model,
  provider,
  effectiveFrom: "1970-01-01T00:00:00.000000Z",
  inputPerMillion: new Money(1),
  cacheReadInputPerMillion: undefined,
  cacheWriteInputPerMillion: undefined,
  outputPerMillion: new Money(2),
  reasoningOutputPerMillion: undefined,
  tier: undefined,
  source: "test",
  notes: undefined,
});

/** A catalog lookup over a list, with the snapshot's provider rule (no provider: anything but "legacy"). */
const catalog = (...prices: Price[]) => (model: string, provider: string | undefined) =>
  prices.find((p) => p.model === model && (provider === undefined ? p.provider !== "legacy" : p.provider === provider));

describe("model resolution", () => {
  const lookup = catalog(
    entry("gpt-4o", "openai"),
    entry("gpt-4o-2024-05-13", "openai"),
    entry("llama3", "meta"),
    entry("ft:gpt-4o-mini", "openai"),
    entry("gpt-4o-mini", "openai"),
    entry("ollama/*", "ollama"),
    entry("azure/gpt-4o", "azure"),
    entry("gpt-3.5-turbo", "legacy"),
    entry("claude-3-5-sonnet", "anthropic"),
  );
  const resolve = (model: string, provider?: string, fallback?: string) => {
    const price = resolvePrice(model, provider, lookup, fallback);
    return price && [price.id, price.resolution];
  };

  it.each([
    ["gpt-4o", undefined, ["openai/gpt-4o", "exact"]],
    ["openai/gpt-4o", undefined, ["openai/gpt-4o", "provider_prefix"]],
    ["gpt-4o", "azure", ["azure/azure/gpt-4o", "provider_prefix"]],
    ["llama3:8b", undefined, ["meta/llama3", "tag"]],
    ["gpt-4o-2024-08-06", undefined, ["openai/gpt-4o", "snapshot"]],
    ["gpt-4o-2024-05-13", undefined, ["openai/gpt-4o-2024-05-13", "exact"]],
    ["openai/gpt-4o-2024-08-06", undefined, ["openai/gpt-4o", "snapshot"]],
    ["claude-3-5-sonnet-20241022", undefined, ["anthropic/claude-3-5-sonnet", "snapshot"]],
    ["claude-3-5-sonnet@20241022", undefined, ["anthropic/claude-3-5-sonnet", "snapshot"]],
    ["ft:gpt-4o-mini:acme::abc123", undefined, ["openai/ft:gpt-4o-mini", "fine_tune"]],
    ["ft:gpt-4o-mini-2024-07-18:acme::abc123", undefined, ["openai/ft:gpt-4o-mini", "fine_tune"]],
    ["ollama/llama3:8b", undefined, ["ollama/ollama/*", "local_model"]],
    ["mistral", "ollama", ["ollama/ollama/*", "local_model"]],
    ["legacy/gpt-3.5-turbo", undefined, ["legacy/gpt-3.5-turbo", "provider_prefix"]],
  ])("prices %s (provider %s) with %j", (model, provider, expected) => {
    expect(resolve(model, provider)).toEqual(expected);
  });

  it.each([
    ["a fine-tune without a fine-tune price, never at its base model's price", "ft:gpt-4o:acme::x1"],
    ["an unknown model", "no-such-model"],
    ["a legacy-list name without provider", "gpt-3.5-turbo"],
    ["a prefix of another provider than the one given", "openai/gpt-4o", "azure"],
    ["an OpenAI four-digit snapshot, which is ambiguous", "gpt-4o-0613"],
  ])("leaves %s unpriced", (_name, model, provider?: string) => {
    expect(resolve(model, provider)).toBeUndefined();
  });

  it("applies the configured default price only when nothing else matched", () => {
    expect(resolve("no-such-model", undefined, "gpt-4o-mini")).toEqual(["openai/gpt-4o-mini", "default_price"]);
    expect(resolve("gpt-4o", undefined, "gpt-4o-mini")).toEqual(["openai/gpt-4o", "exact"]);
  });

  it("strips only real dates and tags", () => {
    expect(withoutSnapshot("model-20241340")).toBeUndefined();
    expect(withoutSnapshot("model-12345678")).toBeUndefined();
    expect(withoutSnapshot("gemini-2.0-flash-001")).toBeUndefined();
    expect(withoutSnapshot("o3-mini-2025-01-31")).toBe("o3-mini");
    expect(withoutTag("llama3:8b")).toBe("llama3");
    expect(withoutTag("llama3")).toBeUndefined();
  });

  it("tries the exact name first, then the prefix, tag and snapshot forms", () => {
    expect(candidates("openai/gpt-4o-2024-08-06:beta", undefined).map(([n, p, r]) => `${r}:${p ?? "*"}:${n}`)).toEqual([
      "exact:*:openai/gpt-4o-2024-08-06:beta",
      "provider_prefix:openai:gpt-4o-2024-08-06:beta",
      "tag:*:openai/gpt-4o-2024-08-06",
      "tag:openai:gpt-4o-2024-08-06",
      "snapshot:*:openai/gpt-4o",
      "snapshot:openai:gpt-4o",
    ]);
  });
});
