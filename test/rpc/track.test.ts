import { status } from "@grpc/grpc-js";
import { sql } from "kysely";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CostTrackingError, EventStatus, type DeepPartial, type TrackApiCallRequest } from "../../client/index.js";
import { ENGINES } from "../support/database.js";
import { fixedClock, startTestService, type TestService } from "../support/service.js";

const call = (over: DeepPartial<TrackApiCallRequest> = {}): DeepPartial<TrackApiCallRequest> => ({
  model: "gpt-4o-mini",
  provider: "openai",
  taskId: "task-1",
  usage: { inputTokens: "1000", outputTokens: "500" },
  status: EventStatus.EVENT_STATUS_SUCCEEDED,
  callTime: { seconds: "1741543200", nanos: 0 }, // 2025-03-09T18:00:00Z
  ...over,
});

describe.each(ENGINES)("TrackApiCall and TrackAgentExecution on %s", (engine) => {
  let t: TestService;
  const clock = fixedClock("2025-03-10T00:00:00Z");
  const rowCount = async () =>
    Number((await sql<{ n: string }>`select count(*) as n from ledger_event`.execute(t.database.db)).rows[0]!.n);
  const rejection = (promise: Promise<unknown>) => promise.then(() => undefined, (e: unknown) => e as CostTrackingError);

  beforeAll(async () => {
    t = await startTestService(engine, { clock });
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    await sql`truncate ledger_event`.execute(t.database.db);
  });

  it("records a call with its exact cost and the price version that priced it", async () => {
    const response = await t.client.trackApiCall(call({ requestId: "r-1" }));
    expect(response).toMatchObject({ duplicate: false, costUsd: "0.00045", unpriced: false });
    expect(response.price?.priceId).toBe("00000000-0000-7000-8000-000000000001");
    const row = await t.database.db.selectFrom("ledger_event").selectAll().executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      id: response.eventId,
      request_id: "r-1",
      kind: "api_call",
      occurred_at: "2025-03-09 18:00:00+00",
      cost_usd: "0.00045",
      input_tokens: "1000",
      output_tokens: "500",
      total_tokens: "1500",
      status: "succeeded",
    });
  });

  it("stores a call sent three times under one request id once, and returns the original each time", async () => {
    const first = await t.client.trackApiCall(call({ requestId: "retry-1", usage: { inputTokens: "20000", outputTokens: "11666" } }));
    const again = await t.client.trackApiCall(call({ requestId: "retry-1", usage: { inputTokens: "20000", outputTokens: "11666" } }));
    const third = await t.client.trackApiCall(call({ requestId: "retry-1", usage: { inputTokens: "20000", outputTokens: "11666" } }));
    expect(first.duplicate).toBe(false);
    for (const dup of [again, third]) expect(dup).toMatchObject({ duplicate: true, eventId: first.eventId, costUsd: first.costUsd });
    expect(await rowCount()).toBe(1);
  });

  it("refuses a request id reused for different content with REQUEST_ID_REUSED, changing nothing", async () => {
    await t.client.trackApiCall(call({ requestId: "reuse-1" }));
    const error = await rejection(t.client.trackApiCall(call({ requestId: "reuse-1", usage: { inputTokens: "1", outputTokens: "0" } })));
    expect(error).toMatchObject({ code: status.INVALID_ARGUMENT, reason: "REQUEST_ID_REUSED" });
    expect(await rowCount()).toBe(1);
  });

  it.each([
    ["a negative token count", call({ usage: { inputTokens: "-5" } }), "usage.input_tokens"],
    ["an unknown status", call({ status: 7 as EventStatus }), "status"],
    ["an unspecified status", call({ status: EventStatus.EVENT_STATUS_UNSPECIFIED }), "status"],
    ["a malformed task id", call({ taskId: "has spaces" }), "task_id"],
    ["a malformed request id", call({ requestId: "x".repeat(129) }), "request_id"],
    ["a missing model", call({ model: "" }), "model"],
    ["a missing usage", { ...call(), usage: undefined }, "usage"],
    ["a negative duration", call({ durationMs: "-1" }), "duration_ms"],
    ["a time an hour in the future", call({ callTime: { seconds: String(Date.parse("2025-03-10T01:00:00Z") / 1000), nanos: 0 } }), "call_time"],
    ["an over-long model", call({ model: "m".repeat(201) }), "model"],
    ["reasoning larger than output", call({ usage: { inputTokens: "1", outputTokens: "2", reasoningOutputTokens: "3" } }), "usage.reasoning_output_tokens"],
  ])("refuses %s with INVALID_ARGUMENT naming the field, storing nothing", async (_name, request, field) => {
    const error = await rejection(t.client.trackApiCall(request));
    expect(error).toBeInstanceOf(CostTrackingError);
    expect(error!.code).toBe(status.INVALID_ARGUMENT);
    expect(error!.fieldViolations.map((v) => v.field)).toContain(field);
    expect(await rowCount()).toBe(0);
  });

  it("records an unknown model as unpriced: tokens counted, no cost, never $0", async () => {
    const response = await t.client.trackApiCall(call({ model: "mystery-model", provider: "" }));
    expect(response).toMatchObject({ unpriced: true, duplicate: false });
    expect(response.costUsd).toBeUndefined();
    const totals = (await t.client.aggregateByTask({ taskId: "task-1" })).totals;
    expect(totals).toMatchObject({ costUsd: "0", callCount: "1", inputTokens: "1000", unpricedCallCount: "1" });
  });

  it("records an agent execution that calls name, without adding cost", async () => {
    const run = await t.client.trackAgentExecution({
      requestId: "run-1",
      agentExecutionId: "exec-1",
      agentId: "research_agent",
      taskId: "task-1",
      durationMs: "5400",
      status: EventStatus.EVENT_STATUS_SUCCEEDED,
    });
    expect(run).toMatchObject({ duplicate: false, agentExecutionId: "exec-1" });
    await t.client.trackApiCall(call({ agentId: "research_agent", agentExecutionId: "exec-1" }));
    const again = await t.client.trackAgentExecution({
      requestId: "run-1",
      agentExecutionId: "exec-1",
      agentId: "research_agent",
      taskId: "task-1",
      durationMs: "5400",
      status: EventStatus.EVENT_STATUS_SUCCEEDED,
    });
    expect(again).toMatchObject({ duplicate: true, eventId: run.eventId });
    const task = await t.client.aggregateByTask({ taskId: "task-1" });
    expect(task.totals).toMatchObject({ costUsd: "0.00045", callCount: "1" });
    expect(task.agentExecutionCount).toBe("1");
    expect(task.byAgent).toEqual([{ key: "research_agent", totals: task.totals }]);
  });

  it("refuses an agent execution without an agent", async () => {
    const error = await rejection(t.client.trackAgentExecution({ status: EventStatus.EVENT_STATUS_FAILED }));
    expect(error!.fieldViolations.map((v) => v.field)).toEqual(["agent_id"]);
    expect(await rowCount()).toBe(0);
  });
});
