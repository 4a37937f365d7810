import type { Violations } from "../errors.js";
import { Money, parseMoney } from "../money.js";
import type { PriceRates, PriceTier } from "./price.js";

/** The number of tokens a rate is quoted for. */
export type RateUnit = "per_token" | "per_thousand_tokens" | "per_million_tokens";

const TO_PER_MILLION: Record<RateUnit, Money> = {
  per_token: new Money(1_000_000),
  per_thousand_tokens: new Money(1_000),
  per_million_tokens: new Money(1),
};

/**
 * USD 1,000 per million tokens (USD 0.001 per token) or more is refused as implausible: the dearest real models
 * are far below it, and it is what a per-1K or per-token figure entered in the wrong unit looks like.
 */
export const IMPLAUSIBLE_RATE_PER_MILLION = new Money(1_000);

/** Rates as sent: decimal strings in some unit; empty cache/reasoning rates fall back to input/output. */
export interface RateFields {
  input: string;
  cacheReadInput: string;
  cacheWriteInput: string;
  output: string;
  reasoningOutput: string;
}

const FIELDS: Array<[keyof RateFields, string, boolean]> = [
  ["input", "input", true],
  ["cacheReadInput", "cache_read_input", false],
  ["cacheWriteInput", "cache_write_input", false],
  ["output", "output", true],
  ["reasoningOutput", "reasoning_output", false],
];

/**
 * Converts rates quoted in a unit to USD per million tokens, exactly (decimal multiplication, no float). Each rate
 * must be a non-negative decimal without exponent, and below the implausible rate. Violations go under `path`.
 */
export function ratesFromFields(fields: RateFields, unit: RateUnit, path: string, violations: Violations): PriceRates | undefined {
  const before = violations.list.length;
  const rate = (key: keyof RateFields, name: string, required: boolean): Money | undefined => {
    const text = fields[key].trim();
    const field = `${path}.${name}`;
    if (text === "") {
      if (required) violations.add(field, "is required");
      return undefined;
    }
    const parsed = text.length <= 40 ? parseMoney(text) : undefined;
    if (parsed === undefined) {
      violations.add(field, `must be a non-negative decimal number such as "2.5" (no exponent), got "${text.slice(0, 40)}"`);
      return undefined;
    }
    const perMillion = parsed.times(TO_PER_MILLION[unit]);
    if (perMillion.greaterThanOrEqualTo(IMPLAUSIBLE_RATE_PER_MILLION)) {
      violations.add(
        field,
        `${text} ${unit.replaceAll("_", " ")} is USD ${perMillion.toFixed()} per million tokens: USD 0.001 or more per token is implausible (check the rate unit)`,
      );
    }
    return perMillion;
  };
  const [input, cacheRead, cacheWrite, output, reasoning] = FIELDS.map(([key, name, required]) => rate(key, name, required));
  if (violations.list.length > before) return undefined;
  return {
    inputPerMillion: input!,
    cacheReadInputPerMillion: cacheRead,
    cacheWriteInputPerMillion: cacheWrite,
    outputPerMillion: output!,
    reasoningOutputPerMillion: reasoning,
  };
}

/**
 * A whole-request tier from its threshold and rates. A tier must price every kind the base prices explicitly, so
 * that no tier rate is ever guessed from a base rate (that would be a wrong price above the threshold).
 */
export function tierFrom(
  threshold: bigint,
  rates: PriceRates | undefined,
  base: PriceRates,
  path: string,
  violations: Violations,
): PriceTier | undefined {
  if (rates === undefined) return undefined;
  const kinds: Array<[keyof PriceRates, string]> = [
    ["cacheReadInputPerMillion", "cache_read_input"],
    ["cacheWriteInputPerMillion", "cache_write_input"],
    ["reasoningOutputPerMillion", "reasoning_output"],
  ];
  for (const [key, name] of kinds) {
    if (base[key] !== undefined && rates[key] === undefined) {
      violations.add(`${path}.${name}`, "is required because the base rates price it explicitly");
    }
  }
  return { thresholdInputTokens: threshold, ...rates };
}

/** Whether two sets of rates (and tiers) price every usage the same. */
export function samePricing(a: PriceRates & { tier: PriceTier | undefined }, b: PriceRates & { tier: PriceTier | undefined }): boolean {
  const eq = (x: Money | undefined, y: Money | undefined) => (x === undefined ? y === undefined : y !== undefined && x.equals(y));
  const sameRates = (x: PriceRates, y: PriceRates) =>
    eq(x.inputPerMillion, y.inputPerMillion) &&
    eq(x.cacheReadInputPerMillion, y.cacheReadInputPerMillion) &&
    eq(x.cacheWriteInputPerMillion, y.cacheWriteInputPerMillion) &&
    eq(x.outputPerMillion, y.outputPerMillion) &&
    eq(x.reasoningOutputPerMillion, y.reasoningOutputPerMillion);
  if (!sameRates(a, b)) return false;
  if (a.tier === undefined || b.tier === undefined) return a.tier === b.tier;
  return a.tier.thresholdInputTokens === b.tier.thresholdInputTokens && sameRates(a.tier, b.tier);
}
