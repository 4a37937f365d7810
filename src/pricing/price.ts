import { Money, formatMoney } from "../money.js";
import type { Usage } from "./usage.js";

/** One version of a model's price; rates are USD per million tokens. */
export interface Price {
  id: string;
  model: string;
  provider: string;
  /** ISO-8601 UTC; the version is in force from here until the next version of the same model and provider. */
  effectiveFrom: string;
  inputPerMillion: Money;
  /** Undefined: cache reads are billed at the input rate. */
  cacheReadInputPerMillion: Money | undefined;
  /** Undefined: cache writes are billed at the input rate. */
  cacheWriteInputPerMillion: Money | undefined;
  outputPerMillion: Money;
  /** Undefined: reasoning tokens are billed at the output rate. */
  reasoningOutputPerMillion: Money | undefined;
}

export type TokenKind = "input" | "cache_read_input" | "cache_write_input" | "output" | "reasoning_output";

/** tokens x rate / 1,000,000 = amount, exactly. */
export interface LineItem {
  kind: TokenKind;
  tokens: bigint;
  ratePerMillion: Money;
  amount: Money;
}

/** The exact cost of a usage at a price. */
export interface PricedUsage {
  cost: Money;
  lineItems: LineItem[];
}

const MILLION = new Money(1_000_000);

/**
 * Prices a usage exactly: each kind of token at its own rate, with no rounding anywhere. Kinds with no tokens are
 * left out of the line items; their amounts add up to `cost` exactly.
 */
export function priceUsage(usage: Usage, price: Price): PricedUsage {
  const kinds: Array<[TokenKind, bigint, Money]> = [
    [
      "input",
      usage.inputTokens - usage.cacheReadInputTokens - usage.cacheWriteInputTokens,
      price.inputPerMillion,
    ],
    ["cache_read_input", usage.cacheReadInputTokens, price.cacheReadInputPerMillion ?? price.inputPerMillion],
    ["cache_write_input", usage.cacheWriteInputTokens, price.cacheWriteInputPerMillion ?? price.inputPerMillion],
    ["output", usage.outputTokens - usage.reasoningOutputTokens, price.outputPerMillion],
    ["reasoning_output", usage.reasoningOutputTokens, price.reasoningOutputPerMillion ?? price.outputPerMillion],
  ];
  const lineItems: LineItem[] = [];
  let cost = new Money(0);
  for (const [kind, tokens, ratePerMillion] of kinds) {
    if (tokens === 0n) continue;
    const amount = new Money(tokens.toString()).times(ratePerMillion).dividedBy(MILLION);
    lineItems.push({ kind, tokens, ratePerMillion, amount });
    cost = cost.plus(amount);
  }
  return { cost, lineItems };
}

/** A short human description of a price, for logs and errors. */
export function describePrice(price: Price): string {
  return `${price.provider}/${price.model} from ${price.effectiveFrom}: in ${formatMoney(price.inputPerMillion)}, out ${formatMoney(price.outputPerMillion)} USD/M`;
}
