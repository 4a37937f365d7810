import type { CalculateCostRequest, CalculateCostResponse, CostTrackingServiceServer } from "../../gen/costtracking/v1/cost_tracking_service.js";
import {
  QualityPreset as ProtoQualityPreset,
  RateUnit as ProtoRateUnit,
  type CostEstimateItem,
  type EstimateCostRequest,
  type EstimateCostResponse,
  type ListModelPricesRequest,
  type ListModelPricesResponse,
  type ModelPrice,
  type PriceRates as ProtoPriceRates,
  type UpsertModelPriceRequest,
  type UpsertModelPriceResponse,
} from "../../gen/costtracking/v1/pricing.js";
import type { Usage as ProtoUsage } from "../../gen/costtracking/v1/usage.js";
import { ValidationError, Violations } from "../errors.js";
import type { Logger } from "../logger.js";
import { Money, formatMoney } from "../money.js";
import {
  instantFromProto,
  instantToProto,
  lineItemToProto,
  priceRefToProto,
  usageFromProto,
  usageShapeFromProto,
} from "../rpc/convert.js";
import { unary } from "../rpc/handlers.js";
import { instantFromDate, type Clock } from "../time.js";
import { identifier, nonNegativeInt64, text } from "../validation.js";
import type { EstimateItem, EstimateService, ExpectedUsage, ItemEstimate } from "./estimate.service.js";
import { phaseTokens, presetPhases, type PlannedPhase, type QualityPreset } from "./legacy-plan.js";
import type { PriceRates, PriceTier } from "./price.js";
import type { ListedPrice, PriceListCursor } from "./price-catalog.repository.js";
import type { NewPriceVersion, PriceCatalogService } from "./price-catalog.service.js";
import { ratesFromFields, tierFrom, type RateUnit } from "./price-input.js";
import type { PricingService } from "./pricing.service.js";
import type { Usage } from "./usage.js";

/** ListModelPrices page sizes (AIP-158): 0 means the default; larger than the maximum is lowered to it. */
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

export interface PricingDomain {
  pricing: PricingService;
  catalog: PriceCatalogService;
  estimates: EstimateService;
}

export function pricingRpc(
  { pricing, catalog, estimates }: PricingDomain,
  clock: Clock,
  logger: Logger,
): Pick<CostTrackingServiceServer, "calculateCost" | "listModelPrices" | "upsertModelPrice" | "estimateCost"> {
  return {
    calculateCost: unary("CalculateCost", logger, async (request: CalculateCostRequest): Promise<CalculateCostResponse> => {
      const violations = new Violations();
      const model = text(request.model, "model", 200, violations, true);
      const provider = text(request.provider, "provider", 100, violations)?.toLowerCase();
      const usage = usageShapeFromProto(request, violations);
      const at = instantFromProto(request.time, "time", violations) ?? instantFromDate(clock.now());
      violations.throwIfAny();
      const quote = await pricing.quote(model!, provider, usage!, at);
      if (!quote.priced) return { unpriced: true, lineItems: [] };
      return {
        costUsd: formatMoney(quote.cost),
        unpriced: false,
        price: priceRefToProto(quote.price),
        lineItems: quote.lineItems.map(lineItemToProto),
      };
    }),

    listModelPrices: unary("ListModelPrices", logger, async (request: ListModelPricesRequest): Promise<ListModelPricesResponse> => {
      const violations = new Violations();
      if (request.pageSize < 0) violations.add("page_size", `must not be negative, got ${request.pageSize}`);
      const pageSize = request.pageSize === 0 ? DEFAULT_PAGE_SIZE : Math.min(request.pageSize, MAX_PAGE_SIZE);
      const filter = {
        model: text(request.model, "model", 200, violations),
        provider: text(request.provider, "provider", 100, violations)?.toLowerCase(),
      };
      const after = request.pageToken === "" ? undefined : decodePageToken(request.pageToken, filter, violations);
      violations.throwIfAny();
      const page = await catalog.list(filter, after, Math.max(pageSize, 1));
      return {
        modelPrices: page.prices.map(modelPriceToProto),
        nextPageToken: page.next ? encodePageToken(page.next, filter) : "",
      };
    }),

    upsertModelPrice: unary("UpsertModelPrice", logger, async (request: UpsertModelPriceRequest): Promise<UpsertModelPriceResponse> => {
      const violations = new Violations();
      const version = priceVersionFromProto(request, instantFromDate(clock.now()), violations);
      violations.throwIfAny();
      const result = await catalog.upsert(version!);
      return { modelPrice: modelPriceToProto(result.price), created: result.outcome !== "unchanged" };
    }),

    estimateCost: unary("EstimateCost", logger, async (request: EstimateCostRequest): Promise<EstimateCostResponse> => {
      const violations = new Violations();
      const at = instantFromProto(request.time, "time", violations) ?? instantFromDate(clock.now());
      if (request.history) {
        const basis = request.history;
        const filter = {
          operation: text(basis.operation, "history.operation", 100, violations),
          agentId: identifier(basis.agentId, "history.agent_id", violations),
          since: instantFromProto(basis.startTime, "history.start_time", violations),
        };
        if (filter.operation === undefined && filter.agentId === undefined) {
          violations.add("history.operation", "is required unless history.agent_id is given");
        }
        violations.throwIfAny();
        const stats = await estimates.fromHistory(filter);
        return {
          ...(stats.p50 !== undefined ? { costUsd: formatMoney(new Money(stats.p50)) } : {}),
          items: [],
          unpricedItemCount: "0",
          totalTokens: "0",
          history: {
            sampleSize: stats.sampleSize.toString(),
            ...(stats.p50 !== undefined ? { p50CostUsd: formatMoney(new Money(stats.p50)) } : {}),
            ...(stats.p90 !== undefined ? { p90CostUsd: formatMoney(new Money(stats.p90)) } : {}),
            excludedUnpricedTaskCount: stats.excludedUnpricedTasks.toString(),
          },
        };
      }
      if (request.phasePlan) {
        const phases = phasePlanFromProto(request.phasePlan, violations);
        violations.throwIfAny();
        return estimateToProto(await estimates.fromPhasePlan(phases!, at));
      }
      if (request.expectedUsage) {
        const expected = expectedUsageFromProto(request.expectedUsage.usages, violations);
        violations.throwIfAny();
        return estimateToProto(await estimates.fromExpectedUsage(expected, at));
      }
      throw new ValidationError([{ field: "basis", description: "is required: send one of expected_usage, phase_plan, history" }]);
    }),
  };
}

const RATE_UNIT_FROM_PROTO: Partial<Record<number, RateUnit>> = {
  [ProtoRateUnit.RATE_UNIT_PER_TOKEN]: "per_token",
  [ProtoRateUnit.RATE_UNIT_PER_THOUSAND_TOKENS]: "per_thousand_tokens",
  [ProtoRateUnit.RATE_UNIT_PER_MILLION_TOKENS]: "per_million_tokens",
};

/** Validates an UpsertModelPriceRequest into a version to add; every problem is named by its proto field. */
function priceVersionFromProto(request: UpsertModelPriceRequest, now: string, violations: Violations): NewPriceVersion | undefined {
  const before = violations.list.length;
  const model = text(request.model, "model", 200, violations, true);
  const provider = text(request.provider, "provider", 100, violations, true)?.toLowerCase();
  const effectiveFrom = instantFromProto(request.effectiveTime, "effective_time", violations) ?? now;
  const unit = RATE_UNIT_FROM_PROTO[request.rateUnit];
  if (!unit) {
    violations.add("rate_unit", request.rateUnit === 0 ? "is required: per token, per thousand or per million tokens" : `unknown unit ${request.rateUnit}`);
  }
  const rates = unit && ratesFromFields(request.rates ?? emptyRates(), unit, "rates", violations);
  const threshold = nonNegativeInt64(request.tierThresholdInputTokens, "tier_threshold_input_tokens", violations);
  let tier: PriceTier | undefined;
  if (threshold > 0n) {
    if (!request.tierRates) violations.add("tier_rates", "is required with tier_threshold_input_tokens");
    else if (unit && rates) tier = tierFrom(threshold, ratesFromFields(request.tierRates, unit, "tier_rates", violations), rates, "tier_rates", violations);
  } else if (request.tierRates) {
    violations.add("tier_threshold_input_tokens", "is required (above 0) with tier_rates");
  }
  const source = text(request.source, "source", 200, violations) ?? "api";
  const notes = text(request.notes, "notes", 2000, violations);
  if (violations.list.length > before || !rates) return undefined;
  return { model: model!, provider: provider!, effectiveFrom, ...rates, tier, source, notes };
}

const emptyRates = (): ProtoPriceRates => ({ input: "", cacheReadInput: "", cacheWriteInput: "", output: "", reasoningOutput: "" });

function ratesToProto(rates: PriceRates): ProtoPriceRates {
  const optional = (value: PriceRates[keyof PriceRates]) => (value === undefined ? "" : formatMoney(value));
  return {
    input: formatMoney(rates.inputPerMillion),
    cacheReadInput: optional(rates.cacheReadInputPerMillion),
    cacheWriteInput: optional(rates.cacheWriteInputPerMillion),
    output: formatMoney(rates.outputPerMillion),
    reasoningOutput: optional(rates.reasoningOutputPerMillion),
  };
}

function modelPriceToProto({ price, createdAt }: ListedPrice): ModelPrice {
  return {
    priceId: price.id,
    model: price.model,
    provider: price.provider,
    effectiveTime: instantToProto(price.effectiveFrom),
    ratesUsdPerMillionTokens: ratesToProto(price),
    tierThresholdInputTokens: price.tier ? price.tier.thresholdInputTokens.toString() : "0",
    ...(price.tier ? { tierRatesUsdPerMillionTokens: ratesToProto(price.tier) } : {}),
    source: price.source,
    notes: price.notes ?? "",
    createTime: instantToProto(createdAt),
  };
}

/**
 * Page tokens are opaque to callers: base64url JSON of the last row's sort key and the filter it was issued for,
 * so a token replayed with another filter is refused instead of silently skipping or repeating rows.
 */
function encodePageToken(cursor: PriceListCursor, filter: { model: string | undefined; provider: string | undefined }): string {
  return Buffer.from(JSON.stringify({ c: cursor, f: [filter.model ?? "", filter.provider ?? ""] })).toString("base64url");
}

function decodePageToken(
  token: string,
  filter: { model: string | undefined; provider: string | undefined },
  violations: Violations,
): PriceListCursor | undefined {
  try {
    const decoded = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { c?: PriceListCursor; f?: unknown };
    const c = decoded.c;
    const valid =
      c !== undefined &&
      typeof c.model === "string" &&
      typeof c.provider === "string" &&
      typeof c.effectiveFrom === "string" &&
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(c.effectiveFrom);
    if (!valid) throw new Error("malformed");
    if (JSON.stringify(decoded.f) !== JSON.stringify([filter.model ?? "", filter.provider ?? ""])) {
      violations.add("page_token", "was issued for another model/provider filter; start again without a page_token");
      return undefined;
    }
    return { model: c.model, provider: c.provider, effectiveFrom: c.effectiveFrom };
  } catch {
    violations.add("page_token", "is not a page token this server issued; pass next_page_token unchanged");
    return undefined;
  }
}

const PRESET_FROM_PROTO: Partial<Record<number, QualityPreset>> = {
  [ProtoQualityPreset.QUALITY_PRESET_FAST]: "fast",
  [ProtoQualityPreset.QUALITY_PRESET_BALANCED]: "balanced",
  [ProtoQualityPreset.QUALITY_PRESET_QUALITY]: "quality",
};

function phasePlanFromProto(
  plan: NonNullable<EstimateCostRequest["phasePlan"]>,
  violations: Violations,
): PlannedPhase[] | undefined {
  const hasPreset = plan.preset !== ProtoQualityPreset.QUALITY_PRESET_UNSPECIFIED;
  if (hasPreset === (plan.phases.length > 0)) {
    violations.add("phase_plan.preset", "send exactly one of phase_plan.preset and phase_plan.phases");
    return undefined;
  }
  if (hasPreset) {
    const preset = PRESET_FROM_PROTO[plan.preset];
    if (!preset) violations.add("phase_plan.preset", `unknown preset ${plan.preset}`);
    return preset && presetPhases(preset);
  }
  if (plan.phases.length > 100) violations.add("phase_plan.phases", `must have at most 100 phases, got ${plan.phases.length}`);
  return plan.phases.map((phase, i) => {
    const path = `phase_plan.phases[${i}]`;
    const operation = text(phase.operation, `${path}.operation`, 100, violations, true) ?? "";
    return {
      operation,
      model: text(phase.model, `${path}.model`, 200, violations, true) ?? "",
      tokens: phase.tokens === undefined ? phaseTokens(operation) : nonNegativeInt64(phase.tokens, `${path}.tokens`, violations),
    };
  });
}

function expectedUsageFromProto(
  usages: NonNullable<EstimateCostRequest["expectedUsage"]>["usages"],
  violations: Violations,
): ExpectedUsage[] {
  if (usages.length === 0 || usages.length > 1000) {
    violations.add("expected_usage.usages", `must have 1 to 1,000 entries, got ${usages.length}`);
  }
  return usages.map((u, i) => {
    const path = `expected_usage.usages[${i}]`;
    return {
      model: text(u.model, `${path}.model`, 200, violations, true) ?? "",
      provider: text(u.provider, `${path}.provider`, 100, violations)?.toLowerCase(),
      operation: text(u.operation, `${path}.operation`, 100, violations),
      usage: usageFromProto(u.usage, `${path}.usage`, violations)!,
    };
  });
}

function usageToProto(usage: Usage): ProtoUsage {
  return {
    inputTokens: usage.inputTokens.toString(),
    cacheReadInputTokens: usage.cacheReadInputTokens.toString(),
    cacheWriteInputTokens: usage.cacheWriteInputTokens.toString(),
    outputTokens: usage.outputTokens.toString(),
    reasoningOutputTokens: usage.reasoningOutputTokens.toString(),
  };
}

function itemToProto(item: EstimateItem): CostEstimateItem {
  const base = { operation: item.operation ?? "", model: item.model, usage: usageToProto(item.usage) };
  if (!item.quote.priced) return { ...base, unpriced: true, lineItems: [] };
  return {
    ...base,
    costUsd: formatMoney(item.quote.cost),
    unpriced: false,
    price: priceRefToProto(item.quote.price),
    lineItems: item.quote.lineItems.map(lineItemToProto),
  };
}

function estimateToProto(estimate: ItemEstimate): EstimateCostResponse {
  const totalTokens = estimate.items.reduce((sum, i) => sum + i.usage.inputTokens + i.usage.outputTokens, 0n);
  return {
    ...(estimate.cost ? { costUsd: formatMoney(estimate.cost) } : {}),
    ...(estimate.range ? { lowCostUsd: formatMoney(estimate.range.low), highCostUsd: formatMoney(estimate.range.high) } : {}),
    items: estimate.items.map(itemToProto),
    unpricedItemCount: estimate.items.filter((i) => !i.quote.priced).length.toString(),
    totalTokens: totalTokens.toString(),
  };
}
