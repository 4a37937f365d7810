import { status } from "@grpc/grpc-js";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BudgetScopeKind,
  EventStatus,
  RateUnit,
  type CostTrackingClient,
  type CostTrackingError,
  type DeepPartial,
  type SetBudgetRequest,
  type TrackAgentExecutionRequest,
  type TrackApiCallRequest,
  type UpsertModelPriceRequest,
} from "../../client/index.js";
import { ENGINES } from "../support/database.js";
import { startTestService, type TestService } from "../support/service.js";

const HUGE = "9223372036854775807"; // the largest int64: a duration of 292 million years
const TEN_MB = "x".repeat(10 * 1024 * 1024);
const FAR_FUTURE = { seconds: String(Math.floor(Date.now() / 1000) + 86_400), nanos: 0 };

const apiCall = (over: DeepPartial<TrackApiCallRequest>): DeepPartial<TrackApiCallRequest> => ({
  model: "gpt-4o-mini",
  usage: { inputTokens: "10", outputTokens: "5" },
  status: EventStatus.EVENT_STATUS_SUCCEEDED,
  ...over,
});
const execution = (over: DeepPartial<TrackAgentExecutionRequest>): DeepPartial<TrackAgentExecutionRequest> => ({
  agentId: "writer",
  status: EventStatus.EVENT_STATUS_SUCCEEDED,
  ...over,
});
const price = (over: DeepPartial<UpsertModelPriceRequest>): DeepPartial<UpsertModelPriceRequest> => ({
  model: "bad-input-model",
  provider: "test",
  effectiveTime: { seconds: "1735689600", nanos: 0 },
  rateUnit: RateUnit.RATE_UNIT_PER_MILLION_TOKENS,
  rates: { input: "1", output: "2" },
  ...over,
});
const budget = (over: DeepPartial<SetBudgetRequest>): DeepPartial<SetBudgetRequest> => ({
  scope: { kind: BudgetScopeKind.BUDGET_SCOPE_KIND_USER, id: "u1" },
  monthlyLimitUsd: "100",
  ...over,
});

type Case = [name: string, send: (c: CostTrackingClient) => Promise<unknown>, code: status, field: string | undefined];

/** Every write RPC, each field given the kinds of wrong value the issue lists: the status, the field, and no change. */
const CASES: Case[] = [
  // TrackApiCall
  ["call: negative tokens", (c) => c.trackApiCall(apiCall({ usage: { inputTokens: "-1" } })), status.INVALID_ARGUMENT, "usage.input_tokens"],
  ["call: huge tokens", (c) => c.trackApiCall(apiCall({ usage: { inputTokens: "99999999999999999" } })), status.INVALID_ARGUMENT, "usage.input_tokens"],
  ["call: cache parts larger than input", (c) => c.trackApiCall(apiCall({ usage: { inputTokens: "5", cacheReadInputTokens: "4", cacheWriteInputTokens: "2" } })), status.INVALID_ARGUMENT, "usage.cache_read_input_tokens"],
  ["call: reasoning larger than output", (c) => c.trackApiCall(apiCall({ usage: { outputTokens: "1", reasoningOutputTokens: "2" } })), status.INVALID_ARGUMENT, "usage.reasoning_output_tokens"],
  ["call: no usage", (c) => c.trackApiCall({ model: "gpt-4o-mini", status: EventStatus.EVENT_STATUS_SUCCEEDED }), status.INVALID_ARGUMENT, "usage"],
  ["call: empty model", (c) => c.trackApiCall(apiCall({ model: "" })), status.INVALID_ARGUMENT, "model"],
  ["call: over-long model", (c) => c.trackApiCall(apiCall({ model: "m".repeat(201) })), status.INVALID_ARGUMENT, "model"],
  ["call: over-long operation", (c) => c.trackApiCall(apiCall({ operation: "o".repeat(101) })), status.INVALID_ARGUMENT, "operation"],
  ["call: over-long error", (c) => c.trackApiCall(apiCall({ errorMessage: "e".repeat(2001) })), status.INVALID_ARGUMENT, "error_message"],
  ["call: malformed request id", (c) => c.trackApiCall(apiCall({ requestId: "has space" })), status.INVALID_ARGUMENT, "request_id"],
  ["call: malformed task id", (c) => c.trackApiCall(apiCall({ taskId: "tab\tid" })), status.INVALID_ARGUMENT, "task_id"],
  ["call: over-long user id", (c) => c.trackApiCall(apiCall({ userId: "u".repeat(129) })), status.INVALID_ARGUMENT, "user_id"],
  ["call: negative duration", (c) => c.trackApiCall(apiCall({ durationMs: "-5" })), status.INVALID_ARGUMENT, "duration_ms"],
  ["call: huge duration", (c) => c.trackApiCall(apiCall({ durationMs: HUGE })), status.INVALID_ARGUMENT, "duration_ms"],
  ["call: time out of range", (c) => c.trackApiCall(apiCall({ callTime: { seconds: "999999999999", nanos: 0 } })), status.INVALID_ARGUMENT, "call_time"],
  ["call: nanos out of range", (c) => c.trackApiCall(apiCall({ callTime: { seconds: "1", nanos: 1_000_000_000 } })), status.INVALID_ARGUMENT, "call_time"],
  ["call: a day in the future", (c) => c.trackApiCall(apiCall({ callTime: FAR_FUTURE })), status.INVALID_ARGUMENT, "call_time"],
  ["call: unspecified status", (c) => c.trackApiCall(apiCall({ status: EventStatus.EVENT_STATUS_UNSPECIFIED })), status.INVALID_ARGUMENT, "status"],
  ["call: unknown status number", (c) => c.trackApiCall(apiCall({ status: 42 as EventStatus })), status.INVALID_ARGUMENT, "status"],
  ["call: 10 MB message", (c) => c.trackApiCall(apiCall({ errorMessage: TEN_MB })), status.RESOURCE_EXHAUSTED, undefined],
  // TrackAgentExecution
  ["execution: no agent", (c) => c.trackAgentExecution(execution({ agentId: "" })), status.INVALID_ARGUMENT, "agent_id"],
  ["execution: malformed execution id", (c) => c.trackAgentExecution(execution({ agentExecutionId: "a b" })), status.INVALID_ARGUMENT, "agent_execution_id"],
  ["execution: negative duration", (c) => c.trackAgentExecution(execution({ durationMs: "-1" })), status.INVALID_ARGUMENT, "duration_ms"],
  ["execution: unspecified status", (c) => c.trackAgentExecution(execution({ status: EventStatus.EVENT_STATUS_UNSPECIFIED })), status.INVALID_ARGUMENT, "status"],
  ["execution: a day in the future", (c) => c.trackAgentExecution(execution({ startTime: FAR_FUTURE })), status.INVALID_ARGUMENT, "start_time"],
  // TrackEvents (a batch): a batch-level problem
  ["batch: empty", (c) => c.trackEvents({ events: [] }), status.INVALID_ARGUMENT, "events"],
  ["batch: 10 MB message", (c) => c.trackEvents({ events: [{ apiCall: apiCall({ errorMessage: TEN_MB }) }] }), status.RESOURCE_EXHAUSTED, undefined],
  // UpsertModelPrice
  ["price: empty model", (c) => c.upsertModelPrice(price({ model: "" })), status.INVALID_ARGUMENT, "model"],
  ["price: negative rate", (c) => c.upsertModelPrice(price({ rates: { input: "-1", output: "2" } })), status.INVALID_ARGUMENT, "rates.input"],
  ["price: rate with exponent", (c) => c.upsertModelPrice(price({ rates: { input: "1e-3", output: "2" } })), status.INVALID_ARGUMENT, "rates.input"],
  ["price: implausible per-token rate", (c) => c.upsertModelPrice(price({ rateUnit: RateUnit.RATE_UNIT_PER_TOKEN, rates: { input: "0.001", output: "0.001" } })), status.INVALID_ARGUMENT, "rates.input"],
  ["price: unspecified unit", (c) => c.upsertModelPrice(price({ rateUnit: RateUnit.RATE_UNIT_UNSPECIFIED })), status.INVALID_ARGUMENT, "rate_unit"],
  ["price: unknown unit number", (c) => c.upsertModelPrice(price({ rateUnit: 9 as RateUnit })), status.INVALID_ARGUMENT, "rate_unit"],
  ["price: malformed effective time", (c) => c.upsertModelPrice(price({ effectiveTime: { seconds: "1", nanos: -1 } })), status.INVALID_ARGUMENT, "effective_time"],
  // SetBudget
  ["budget: unspecified scope kind", (c) => c.setBudget(budget({ scope: { kind: BudgetScopeKind.BUDGET_SCOPE_KIND_UNSPECIFIED } })), status.INVALID_ARGUMENT, "scope.kind"],
  ["budget: negative amount", (c) => c.setBudget(budget({ monthlyLimitUsd: "-10" })), status.INVALID_ARGUMENT, "monthly_limit_usd"],
  ["budget: non-decimal amount", (c) => c.setBudget(budget({ monthlyLimitUsd: "ten" })), status.INVALID_ARGUMENT, "monthly_limit_usd"],
  ["budget: unknown time zone", (c) => c.setBudget(budget({ timeZone: "Nowhere/Land" })), status.INVALID_ARGUMENT, "time_zone"],
];

describe.each(ENGINES)("bad input to every write RPC on %s", (engine) => {
  let t: TestService;
  const counts = async () =>
    (
      await sql<{ events: string; prices: string; budgets: string }>`select
        (select count(*) from ledger_event) as events, (select count(*) from model_price) as prices,
        (select count(*) from budget) as budgets`.execute(t.database.db)
    ).rows[0];
  beforeAll(async () => {
    t = await startTestService(engine);
  });
  afterAll(() => t?.close());

  it.each(CASES)("%s: refused with the documented status and field, and nothing changes", async (_name, send, code, field) => {
    const before = await counts();
    const error = (await send(t.client).then(() => undefined, (e: unknown) => e)) as CostTrackingError | undefined;
    expect(error?.code).toBe(code);
    if (field) expect(error?.fieldViolations.map((v) => v.field)).toContain(field);
    if (code === status.INVALID_ARGUMENT) expect(error?.reason).toMatch(/^(INVALID_FIELD|MALFORMED_MESSAGE)$/);
    expect(await counts()).toEqual(before);
  });
});
