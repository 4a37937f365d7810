import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import type { Instant } from "../time.js";
import { priceUsage, type LineItem, type Price } from "./price.js";
import { findPriceInForce } from "./price-catalog.repository.js";
import type { Usage } from "./usage.js";
import type { Money } from "../money.js";

/** The outcome of pricing a call: priced with a catalog version, or unpriced (never a silent $0). */
export type Quote =
  | { priced: true; price: Price; cost: Money; lineItems: LineItem[] }
  | { priced: false };

/**
 * The one place that decides which price applies to a call. Model resolution: the exact name first, then the
 * name without a provider prefix ("openai/gpt-4o" -> "gpt-4o").
 */
export class PricingService {
  constructor(private readonly db: Kysely<Database>) {}

  async quote(model: string, provider: string | undefined, usage: Usage, at: Instant): Promise<Quote> {
    const price = await this.resolvePrice(model, provider, at);
    if (!price) return { priced: false };
    return { priced: true, price, ...priceUsage(usage, price) };
  }

  private async resolvePrice(model: string, provider: string | undefined, at: Instant): Promise<Price | undefined> {
    const exact = await findPriceInForce(this.db, model, provider, at);
    if (exact) return exact;
    const slash = model.indexOf("/");
    if (slash > 0) {
      const prefix = model.slice(0, slash).toLowerCase();
      if (provider === undefined || provider === prefix) {
        return findPriceInForce(this.db, model.slice(slash + 1), provider ?? prefix, at);
      }
    }
    return undefined;
  }
}
