import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CostTrackingError, TokenKind } from "../../client/index.js";
import { ENGINES } from "../support/database.js";
import { startTestService, type TestService } from "../support/service.js";

describe.each(ENGINES)("CalculateCost on %s", (engine) => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService(engine);
  });
  afterAll(() => t?.close());

  it("prices gpt-4o-mini at $0.15 / $0.60 per million with line items that add up", async () => {
    const response = await t.client.calculateCost({ model: "gpt-4o-mini", usage: { inputTokens: "22361870", outputTokens: "4088665" } });
    expect(response.costUsd).toBe("5.8074795");
    expect(response.unpriced).toBe(false);
    expect(response.price).toMatchObject({ model: "gpt-4o-mini", provider: "openai" });
    expect(response.lineItems).toEqual([
      { kind: TokenKind.TOKEN_KIND_INPUT, tokens: "22361870", rateUsdPerMillionTokens: "0.15", amountUsd: "3.3542805", tierRate: false },
      { kind: TokenKind.TOKEN_KIND_OUTPUT, tokens: "4088665", rateUsdPerMillionTokens: "0.6", amountUsd: "2.453199", tierRate: false },
    ]);
  });

  it("resolves a provider-prefixed name to the catalog model", async () => {
    const response = await t.client.calculateCost({ model: "openai/gpt-4o-mini", usage: { inputTokens: "1000000" } });
    expect(response.costUsd).toBe("0.15");
    expect(response.price?.model).toBe("gpt-4o-mini");
  });

  it("answers an unknown model as unpriced, never as $0", async () => {
    const response = await t.client.calculateCost({ model: "no-such-model", usage: { inputTokens: "10" } });
    expect(response).toMatchObject({ unpriced: true, lineItems: [] });
    expect(response.costUsd).toBeUndefined();
  });

  it("refuses a missing model and a part larger than its whole with INVALID_ARGUMENT naming both fields", async () => {
    const error = await t.client
      .calculateCost({ usage: { inputTokens: "10", cacheReadInputTokens: "11" } })
      .catch((e: unknown) => e as CostTrackingError);
    expect(error).toBeInstanceOf(CostTrackingError);
    expect((error as CostTrackingError).code).toBe(status.INVALID_ARGUMENT);
    expect((error as CostTrackingError).fieldViolations.map((v) => v.field)).toEqual(["model", "usage.cache_read_input_tokens"]);
  });
});
