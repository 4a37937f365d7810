import { priceUsage } from "../pricing/price.js";
import type { PricingService, Quote } from "../pricing/pricing.service.js";
import type { Usage } from "../pricing/usage.js";
import type { Instant } from "../time.js";

interface PendingQuote {
  model: string;
  provider: string | undefined;
  usage: Usage;
  at: Instant;
  resolve(quote: Quote): void;
  reject(error: unknown): void;
}

/**
 * Prices the calls that arrive together (one turn of the event loop: a stream chunk, a batch, concurrent unary
 * calls) with few catalog look-ups: a memo per batch over PricingService.quote, which stays the one place that
 * decides which price applies.
 *
 * Why the memo is exact although every call has its own time: for one (model, provider), quote's answer at the
 * batch's latest time t names a price version in force from its effective time E. No version of that model starts
 * in (E, t] (else it would have been chosen at t), so every call of the batch timed in [E, t] is priced by that same
 * version, and its cost is that version applied to its own usage (the same priceUsage that quote uses). Calls before
 * E get a quote of their own, which again covers a range. So a batch costs one look-up per model and price version
 * it spans, instead of one per call. The same holds for "no price": a model with no version at t has none earlier.
 */
export class BatchPricer {
  private pending: PendingQuote[] = [];

  constructor(private readonly pricing: PricingService) {}

  /** The quote of one call, as PricingService.quote would give it. */
  quote(model: string, provider: string | undefined, usage: Usage, at: Instant): Promise<Quote> {
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0) setImmediate(() => this.flush());
      this.pending.push({ model, provider, usage, at, resolve, reject });
    });
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    const groups = new Map<string, PendingQuote[]>();
    for (const item of batch) {
      const key = `${item.model}\u0000${item.provider ?? ""}`;
      const group = groups.get(key);
      if (group) group.push(item);
      else groups.set(key, [item]);
    }
    for (const group of groups.values()) {
      this.priceGroup(group).catch((error: unknown) => {
        for (const item of group) item.reject(error);
      });
    }
  }

  /** Prices calls of one model and provider, latest first, one quote per price version spanned. */
  private async priceGroup(group: PendingQuote[]): Promise<void> {
    group.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
    let next = 0;
    while (next < group.length) {
      const head = group[next]!;
      const quote = await this.pricing.quote(head.model, head.provider, head.usage, head.at);
      head.resolve(quote);
      next += 1;
      while (next < group.length && (!quote.priced || group[next]!.at >= quote.price.effectiveFrom)) {
        const item = group[next]!;
        item.resolve(quote.priced ? { ...quote, ...priceUsage(item.usage, quote.price) } : quote);
        next += 1;
      }
    }
  }
}
