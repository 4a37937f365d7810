import type { CalculateCostRequest, CalculateCostResponse, CostTrackingServiceServer } from "../../gen/costtracking/v1/cost_tracking_service.js";
import { Violations } from "../errors.js";
import type { Logger } from "../logger.js";
import { formatMoney } from "../money.js";
import { instantFromProto, lineItemToProto, priceRefToProto, usageFromProto } from "../rpc/convert.js";
import { unary } from "../rpc/handlers.js";
import { instantFromDate, type Clock } from "../time.js";
import { text } from "../validation.js";
import type { PricingService } from "./pricing.service.js";

export function pricingRpc(
  pricing: PricingService,
  clock: Clock,
  logger: Logger,
): Pick<CostTrackingServiceServer, "calculateCost"> {
  return {
    calculateCost: unary("CalculateCost", logger, async (request: CalculateCostRequest): Promise<CalculateCostResponse> => {
      const violations = new Violations();
      const model = text(request.model, "model", 200, violations, true);
      const provider = text(request.provider, "provider", 100, violations)?.toLowerCase();
      const usage = usageFromProto(request.usage, "usage", violations);
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
  };
}
