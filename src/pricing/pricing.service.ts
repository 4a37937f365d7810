import type { Money } from "../money.js";
import type { Instant } from "../time.js";
import { resolvePrice } from "./model-resolution.js";
import { priceUsage, type LineItem, type Price, type PriceResolution } from "./price.js";
import type { PriceCatalogCache } from "./price-catalog-snapshot.js";
import type { Usage } from "./usage.js";

/** The outcome of pricing a call: priced with a catalog version, or unpriced (never a silent $0). */
export type Quote =
  | { priced: true; price: Price & { resolution: PriceResolution }; cost: Money; lineItems: LineItem[] }
  | { priced: false };

export interface PricingOptions {
  /** A catalog model name whose price applies to models without one (DEFAULT_PRICE_MODEL); undefined: unpriced. */
  defaultPriceModel: string | undefined;
}

/**
 * The one place that decides which price applies to a call (see model-resolution.ts for the order), with the
 * price version in force at the call's own time, from the in-memory catalog snapshot.
 */
export class PricingService {
  constructor(
    private readonly catalog: PriceCatalogCache,
    private readonly options: PricingOptions,
  ) {}

  async quote(model: string, provider: string | undefined, usage: Usage, at: Instant): Promise<Quote> {
    const snapshot = await this.catalog.snapshot();
    const price = resolvePrice(model, provider, (name, p) => snapshot.find(name, p, at), this.options.defaultPriceModel);
    if (!price) return { priced: false };
    return { priced: true, price, ...priceUsage(usage, price) };
  }
}
