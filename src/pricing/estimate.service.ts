import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import { Money } from "../money.js";
import type { Instant } from "../time.js";
import { taskCostPercentiles, type CostHistoryFilter, type CostHistoryRow } from "./cost-history.repository.js";
import type { PlannedPhase } from "./legacy-plan.js";
import { LEGACY_PROVIDER } from "./model-resolution.js";
import type { PricingService, Quote } from "./pricing.service.js";
import type { Usage } from "./usage.js";

/** The usage expected from one model. */
export interface ExpectedUsage {
  operation: string | undefined;
  model: string;
  provider: string | undefined;
  usage: Usage;
}

/** One priced item of an estimate. */
export interface EstimateItem {
  operation: string | undefined;
  model: string;
  usage: Usage;
  quote: Quote;
}

/** An estimate from items: the sum of the priced ones, and for a phase plan the legacy range. */
export interface ItemEstimate {
  items: EstimateItem[];
  /** Undefined when no item was priced. */
  cost: Money | undefined;
  range: { low: Money; high: Money } | undefined;
}

/** The legacy calculator's range: 20% either side, never below 0 (estimate_cost_range). */
const RANGE_LOW = new Money("0.8");
const RANGE_HIGH = new Money("1.2");

/** Estimates a task's cost before it runs. Records nothing. */
export class EstimateService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly pricing: PricingService,
  ) {}

  /** Prices each expected usage with the prices in force at `at`, exactly as CalculateCost would. */
  async fromExpectedUsage(expected: ExpectedUsage[], at: Instant): Promise<ItemEstimate> {
    const items: EstimateItem[] = [];
    for (const e of expected) {
      items.push({ ...e, quote: await this.pricing.quote(e.model, e.provider, e.usage, at) });
    }
    return { items, cost: sumPriced(items), range: undefined };
  }

  /**
   * Prices a legacy phase plan with the legacy price list (provider "legacy", whose blended rates make the
   * input/output split irrelevant, so a phase's tokens are priced as input), plus the legacy +-20% range. Unlike the
   * legacy calculator, an unknown model is unpriced (reported), not charged an invented $0.001 per 1K.
   */
  async fromPhasePlan(phases: PlannedPhase[], at: Instant): Promise<ItemEstimate> {
    const items: EstimateItem[] = [];
    for (const phase of phases) {
      const usage: Usage = {
        inputTokens: phase.tokens,
        cacheReadInputTokens: 0n,
        cacheWriteInputTokens: 0n,
        outputTokens: 0n,
        reasoningOutputTokens: 0n,
      };
      const quote = await this.pricing.quote(phase.model, LEGACY_PROVIDER, usage, at);
      items.push({ operation: phase.operation, model: phase.model, usage, quote });
    }
    const cost = sumPriced(items);
    const range = cost && { low: Money.max(0, cost.times(RANGE_LOW)), high: cost.times(RANGE_HIGH) };
    return { items, cost, range };
  }

  /** The p50 and p90 cost of past tasks of an operation and/or agent. */
  fromHistory(filter: CostHistoryFilter): Promise<CostHistoryRow> {
    return taskCostPercentiles(this.db, filter);
  }
}

function sumPriced(items: EstimateItem[]): Money | undefined {
  let total: Money | undefined;
  for (const { quote } of items) if (quote.priced) total = (total ?? new Money(0)).plus(quote.cost);
  return total;
}
