import type { status } from "@grpc/grpc-js";
import { describe, expectTypeOf, it } from "vitest";
import {
  CostTrackingError,
  createCostTrackingClient,
  type AggregateByTaskResponse,
  type CalculateCostResponse,
  type ClientOptions,
  type CostTrackingClient,
  type GetStatsResponse,
  type TrackApiCallResponse,
} from "../client/index.js";

describe("the typed client's public types", () => {
  it("creates a client from an address and options", () => {
    expectTypeOf(createCostTrackingClient).parameters.toEqualTypeOf<[string, ClientOptions?]>();
    expectTypeOf(createCostTrackingClient).returns.toEqualTypeOf<CostTrackingClient>();
    expectTypeOf<ClientOptions["token"]>().toEqualTypeOf<string | undefined>();
    expectTypeOf<ClientOptions["deadlineMs"]>().toEqualTypeOf<number | undefined>();
  });

  it("returns promises of the generated responses", () => {
    expectTypeOf<CostTrackingClient["trackApiCall"]>().returns.toEqualTypeOf<Promise<TrackApiCallResponse>>();
    expectTypeOf<CostTrackingClient["calculateCost"]>().returns.toEqualTypeOf<Promise<CalculateCostResponse>>();
    expectTypeOf<CostTrackingClient["aggregateByTask"]>().returns.toEqualTypeOf<Promise<AggregateByTaskResponse>>();
    expectTypeOf<CostTrackingClient["getStats"]>().returns.toEqualTypeOf<Promise<GetStatsResponse>>();
  });

  it("keeps money and int64 as strings, never numbers", () => {
    expectTypeOf<TrackApiCallResponse["costUsd"]>().toEqualTypeOf<string | undefined>();
    expectTypeOf<NonNullable<GetStatsResponse["totals"]>["inputTokens"]>().toEqualTypeOf<string>();
    expectTypeOf<Parameters<CostTrackingClient["trackApiCall"]>[0]["usage"]>().toMatchTypeOf<{ inputTokens?: string } | undefined>();
  });

  it("surfaces failures as one error class with the code and the stable reason", () => {
    expectTypeOf<CostTrackingError["code"]>().toEqualTypeOf<status>();
    expectTypeOf<CostTrackingError["reason"]>().toEqualTypeOf<string>();
    expectTypeOf<CostTrackingError["fieldViolations"]>().toEqualTypeOf<ReadonlyArray<{ field: string; description: string }>>();
  });
});
