import { Money, formatMoney } from "../money.js";
import type { Usage } from "./usage.js";

/** The rates of a price, in USD per million tokens. */
export interface PriceRates {
  inputPerMillion: Money;
  /** Undefined: cache reads are billed at the input rate. */
  cacheReadInputPerMillion: Money | undefined;
  /** Undefined: cache writes are billed at the input rate. */
  cacheWriteInputPerMillion: Money | undefined;
  outputPerMillion: Money;
  /** Undefined: reasoning tokens are billed at the output rate. */
  reasoningOutputPerMillion: Money | undefined;
}

/**
 * A whole-request tier: when a call's input tokens (cache reads and writes included) are more than the threshold,
 * every token of the call is billed at the tier's rates; at exactly the threshold the base rates apply.
 */
export interface PriceTier extends PriceRates {
  thresholdInputTokens: bigint;
}

/**
 * How the model name a caller sent was matched to a catalog entry, in the resolver's order of preference:
 * the name itself; without a provider prefix ("openai/gpt-4o"); without a ":tag" ("llama3:8b"); without a dated
 * snapshot suffix ("gpt-4o-2024-08-06"); a fine-tune price ("ft:gpt-4o-mini:acme::x1" -> "ft:gpt-4o-mini"); the
 * local-model rule (ollama); the configured default price.
 */
export type PriceResolution = "exact" | "provider_prefix" | "tag" | "snapshot" | "fine_tune" | "local_model" | "default_price";

/** One version of a model's price; rates are USD per million tokens. */
export interface Price extends PriceRates {
  id: string;
  model: string;
  provider: string;
  /** ISO-8601 UTC; the version is in force from here until the next version of the same model and provider. */
  effectiveFrom: string;
  tier: PriceTier | undefined;
  /** Where the version came from: "seed", "legacy:MODEL_COSTS", "litellm", "api", ... */
  source: string;
  notes: string | undefined;
  /** Set on the prices a quote returns: how the name asked for matched this entry. */
  resolution?: PriceResolution;
}

export type TokenKind = "input" | "cache_read_input" | "cache_write_input" | "output" | "reasoning_output";

/** tokens x rate / 1,000,000 = amount, exactly. */
export interface LineItem {
  kind: TokenKind;
  tokens: bigint;
  ratePerMillion: Money;
  amount: Money;
  /** True when the rate is the tier's (the call was above the tier threshold). */
  tierRate: boolean;
}

/** The exact cost of a usage at a price. */
export interface PricedUsage {
  cost: Money;
  lineItems: LineItem[];
}

const MILLION = new Money(1_000_000);

/** The rates that apply to a usage: the tier's when its input is above the tier threshold, else the base rates. */
export function ratesFor(usage: Usage, price: Price): { rates: PriceRates; tierRate: boolean } {
  const tierRate = price.tier !== undefined && usage.inputTokens > price.tier.thresholdInputTokens;
  return { rates: tierRate ? price.tier! : price, tierRate };
}

/**
 * Prices a usage exactly: each kind of token at its own rate, with no rounding anywhere. Kinds with no tokens are
 * left out of the line items; their amounts add up to `cost` exactly.
 */
export function priceUsage(usage: Usage, price: Price): PricedUsage {
  const { rates, tierRate } = ratesFor(usage, price);
  const kinds: Array<[TokenKind, bigint, Money]> = [
    ["input", usage.inputTokens - usage.cacheReadInputTokens - usage.cacheWriteInputTokens, rates.inputPerMillion],
    ["cache_read_input", usage.cacheReadInputTokens, rates.cacheReadInputPerMillion ?? rates.inputPerMillion],
    ["cache_write_input", usage.cacheWriteInputTokens, rates.cacheWriteInputPerMillion ?? rates.inputPerMillion],
    ["output", usage.outputTokens - usage.reasoningOutputTokens, rates.outputPerMillion],
    ["reasoning_output", usage.reasoningOutputTokens, rates.reasoningOutputPerMillion ?? rates.outputPerMillion],
  ];
  const lineItems: LineItem[] = [];
  let cost = new Money(0);
  for (const [kind, tokens, ratePerMillion] of kinds) {
    if (tokens === 0n) continue;
    const amount = new Money(tokens.toString()).times(ratePerMillion).dividedBy(MILLION);
    lineItems.push({ kind, tokens, ratePerMillion, amount, tierRate });
    cost = cost.plus(amount);
  }
  return { cost, lineItems };
}

/** A short human description of a price, for logs and errors. */
export function describePrice(price: Price): string {
  return `${price.provider}/${price.model} from ${price.effectiveFrom}: in ${formatMoney(price.inputPerMillion)}, out ${formatMoney(price.outputPerMillion)} USD/M`;
}
