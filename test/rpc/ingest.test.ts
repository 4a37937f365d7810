import { status } from "@grpc/grpc-js";
import { sql } from "kysely";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  CostTrackingError,
  EventStatus,
  type DeepPartial,
  type EventRecord,
  type IngestSummary,
  type TrackApiCallRequest,
} from "../../client/index.js";
import { ENGINES } from "../support/database.js";
import { fixedClock, startTestService, type TestService } from "../support/service.js";

const BASE_SECONDS = Date.parse("2025-03-09T00:00:00Z") / 1000;

/** An API call of gpt-4o-mini ($0.15 in, $0.60 out per million): 1,000 in + 500 out = $0.00045. */
const apiCall = (requestId: string, over: DeepPartial<TrackApiCallRequest> = {}): DeepPartial<EventRecord> => ({
  apiCall: {
    requestId,
    taskId: "task-bulk",
    model: "gpt-4o-mini",
    provider: "openai",
    usage: { inputTokens: "1000", outputTokens: "500" },
    status: EventStatus.EVENT_STATUS_SUCCEEDED,
    callTime: { seconds: String(BASE_SECONDS), nanos: 0 },
    ...over,
  },
});

/** 1,000 calls, of which those at positions 10, 500 and 999 are invalid in three different ways. */
function* thousandWithThreeInvalid(): Generator<DeepPartial<EventRecord>> {
  for (let i = 0; i < 1_000; i++) {
    const id = `stream-${i}`;
    if (i === 10) yield apiCall(id, { usage: { inputTokens: "-1", outputTokens: "5" } });
    else if (i === 500) yield apiCall(id, { model: "" });
    else if (i === 999) yield apiCall(id, { status: EventStatus.EVENT_STATUS_UNSPECIFIED });
    else yield apiCall(id, { callTime: { seconds: String(BASE_SECONDS + i), nanos: 0 } });
  }
}

const counts = (summary: IngestSummary | undefined) => ({
  accepted: summary?.acceptedCount,
  duplicate: summary?.duplicateCount,
  rejected: summary?.rejectedCount,
});

describe.each(ENGINES)("IngestEvents and TrackEvents on %s", (engine) => {
  let t: TestService;
  const clock = fixedClock("2025-03-10T00:00:00Z");
  const rowCount = async () =>
    Number((await sql<{ n: string }>`select count(*) as n from ledger_event`.execute(t.database.db)).rows[0]!.n);

  beforeAll(async () => {
    t = await startTestService(engine, { clock });
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    await sql`truncate ledger_event`.execute(t.database.db);
  });

  it("stores 997 of a 1,000-item stream with items 10, 500 and 999 invalid, and a resend stores nothing new", async () => {
    // when
    const first = await t.client.ingestEvents(thousandWithThreeInvalid(), { eventsPerMessage: 7 });
    // then
    expect(counts(first.summary)).toEqual({ accepted: "997", duplicate: "0", rejected: "3" });
    expect(first.summary?.rejectedEvents.map((r) => [r.position, r.requestId, r.reason, r.fieldViolations.map((v) => v.field)])).toEqual([
      ["10", "stream-10", "INVALID_FIELD", ["api_call.usage.input_tokens"]],
      ["500", "stream-500", "INVALID_FIELD", ["api_call.model"]],
      ["999", "stream-999", "INVALID_FIELD", ["api_call.status"]],
    ]);
    expect(first.summary?.omittedRejectionCount).toBe("0");
    expect(await rowCount()).toBe(997);
    const totals = (await t.client.aggregateByTask({ taskId: "task-bulk" })).totals;
    expect(totals).toMatchObject({ callCount: "997", costUsd: "0.44865" }); // 997 x $0.00045

    // when the same stream is sent again
    const again = await t.client.ingestEvents(thousandWithThreeInvalid());
    // then
    expect(counts(again.summary)).toEqual({ accepted: "0", duplicate: "997", rejected: "3" });
    expect(again.summary?.rejectedEvents.map((r) => r.position)).toEqual(["10", "500", "999"]);
    expect(await rowCount()).toBe(997);
  });

  it("takes API calls and agent executions in one stream, read per agent run without double counting", async () => {
    const events: Array<DeepPartial<EventRecord>> = [
      { agentExecution: { requestId: "run-a", agentExecutionId: "exec-a", agentId: "researcher", taskId: "task-mix", status: EventStatus.EVENT_STATUS_SUCCEEDED, durationMs: "1200" } },
      apiCall("call-1", { taskId: "task-mix", agentId: "researcher", agentExecutionId: "exec-a" }),
      apiCall("call-2", { taskId: "task-mix", agentId: "researcher", agentExecutionId: "exec-a" }),
      { agentExecution: { requestId: "run-b", agentExecutionId: "exec-b", agentId: "writer", taskId: "task-mix", status: EventStatus.EVENT_STATUS_FAILED, errorMessage: "rate limited" } },
      apiCall("call-3", { taskId: "task-mix", agentId: "writer", agentExecutionId: "exec-b", usage: { inputTokens: "2000", outputTokens: "0" } }),
      apiCall("call-4", { taskId: "task-mix" }),
    ];
    const response = await t.client.ingestEvents(events);
    expect(counts(response.summary)).toEqual({ accepted: "6", duplicate: "0", rejected: "0" });

    const task = await t.client.aggregateByTask({ taskId: "task-mix" });
    expect(task.totals).toMatchObject({ callCount: "4", costUsd: "0.00165" });
    expect(task.agentExecutionCount).toBe("2");
    expect(task.byAgentExecution.map((g) => [g.key, g.totals?.callCount, g.totals?.costUsd])).toEqual([
      ["exec-a", "2", "0.0009"],
      ["", "1", "0.00045"],
      ["exec-b", "1", "0.0003"],
    ]);
  });

  it("counts a request id repeated inside one stream once, and refuses its reuse for other content", async () => {
    const response = await t.client.ingestEvents([
      apiCall("same-1"),
      apiCall("same-1"),
      apiCall("same-2"),
      apiCall("same-2", { usage: { inputTokens: "9", outputTokens: "0" } }),
      {},
    ]);
    expect(counts(response.summary)).toEqual({ accepted: "2", duplicate: "1", rejected: "2" });
    expect(response.summary?.rejectedEvents.map((r) => [r.position, r.reason])).toEqual([
      ["3", "REQUEST_ID_REUSED"],
      ["4", "INVALID_FIELD"],
    ]);
    expect(response.summary?.rejectedEvents[1]?.fieldViolations.map((v) => v.field)).toEqual(["event"]);
    expect(await rowCount()).toBe(2);
  });

  it("refuses an event time beyond the allowed clock skew per item, naming the field from the record", async () => {
    const response = await t.client.trackEvents({
      events: [
        apiCall("skew-ok"),
        apiCall("skew-bad", { callTime: { seconds: String(Date.parse("2025-03-10T01:00:00Z") / 1000), nanos: 0 } }),
        { agentExecution: { requestId: "skew-run", agentId: "a", startTime: { seconds: String(Date.parse("2025-03-11T00:00:00Z") / 1000), nanos: 0 }, status: EventStatus.EVENT_STATUS_SUCCEEDED } },
        { agentExecution: { requestId: "no-agent", status: EventStatus.EVENT_STATUS_SUCCEEDED, durationMs: "-3" } },
      ],
    });
    expect(counts(response.summary)).toEqual({ accepted: "1", duplicate: "0", rejected: "3" });
    expect(response.summary?.rejectedEvents.map((r) => [r.position, r.fieldViolations.map((v) => v.field)])).toEqual([
      ["1", ["api_call.call_time"]],
      ["2", ["agent_execution.start_time"]],
      ["3", ["agent_execution.agent_id", "agent_execution.duration_ms"]],
    ]);
    expect(await rowCount()).toBe(1);
  });

  it("records a batch like a stream, and a batch's events are duplicates of the stream's", async () => {
    await t.client.ingestEvents([apiCall("b-1"), apiCall("b-2")]);
    const response = await t.client.trackEvents({ events: [apiCall("b-1"), apiCall("b-2"), apiCall("b-3")] });
    expect(counts(response.summary)).toEqual({ accepted: "1", duplicate: "2", rejected: "0" });
    expect(await rowCount()).toBe(3);
  });

  it("refuses an empty batch and one above 10,000 events with INVALID_ARGUMENT on events, storing nothing", async () => {
    const tooMany = Array.from({ length: 10_001 }, (_, i) => apiCall(`big-${i}`));
    for (const events of [[], tooMany]) {
      const error = await t.client.trackEvents({ events }).then(() => undefined, (e: unknown) => e as CostTrackingError);
      expect(error).toMatchObject({ code: status.INVALID_ARGUMENT });
      expect(error?.fieldViolations.map((v) => v.field)).toEqual(["events"]);
    }
    expect(await rowCount()).toBe(0);
  });

  it("answers an empty stream with zero counts", async () => {
    const response = await t.client.ingestEvents([]);
    expect(counts(response.summary)).toEqual({ accepted: "0", duplicate: "0", rejected: "0" });
  });

  it("lists at most 10,000 rejections and counts the rest", async () => {
    function* invalid() {
      for (let i = 0; i < 10_050; i++) yield apiCall(`bad-${i}`, { model: "" });
      yield apiCall("good-1");
    }
    const response = await t.client.ingestEvents(invalid(), { eventsPerMessage: 500 });
    expect(counts(response.summary)).toEqual({ accepted: "1", duplicate: "0", rejected: "10050" });
    expect(response.summary?.rejectedEvents).toHaveLength(10_000);
    expect(response.summary?.rejectedEvents.at(-1)?.position).toBe("9999");
    expect(response.summary?.omittedRejectionCount).toBe("50");
  });

  it("prices every event of a stream at its own time, across a price change, exactly as CalculateCost does", async () => {
    // given: a model whose price rises on 2025-03-05, and events on both sides of the change in shuffled order
    await sql`insert into model_price (id, model, provider, effective_from, input_usd_per_mtok, output_usd_per_mtok, source) values
      ('00000000-0000-7000-8000-0000000000a1', 'versioned-test-model', 'test', '2025-03-01T00:00:00Z', 1, 2, 'test'),
      ('00000000-0000-7000-8000-0000000000a2', 'versioned-test-model', 'test', '2025-03-05T00:00:00Z', 3, 4, 'test')`.execute(t.database.db);
    // (a server that caches the catalog sees rows written behind its back within its staleness bound)
    await expect
      .poll(async () => (await t.client.calculateCost({ model: "versioned-test-model", provider: "test", usage: { inputTokens: "1" } })).price?.priceId)
      .toBe("00000000-0000-7000-8000-0000000000a2");
    const start = Date.parse("2025-02-28T00:00:00Z") / 1000;
    const events = Array.from({ length: 240 }, (_, i) => {
      const seconds = String(start + ((i * 7_919) % 240) * 3_600); // hourly from Feb 28 to Mar 9, shuffled
      return apiCall(`versioned-${i}`, {
        model: i % 11 === 0 ? "unknown-test-model" : "versioned-test-model",
        provider: "test",
        usage: { inputTokens: String(1_000 + i), outputTokens: String(10 * i) },
        callTime: { seconds, nanos: 0 },
      });
    });
    // when
    const response = await t.client.ingestEvents(events);
    // then
    expect(counts(response.summary)).toEqual({ accepted: "240", duplicate: "0", rejected: "0" });
    const rows = await t.database.db.selectFrom("ledger_event").select(["request_id", "cost_usd", "price_id"]).execute();
    const stored = new Map(rows.map((r) => [r.request_id, r]));
    for (const event of events) {
      const call = event.apiCall!;
      const expected = await t.client.calculateCost({ model: call.model!, provider: call.provider!, usage: call.usage!, time: call.callTime! });
      const row = stored.get(call.requestId!)!;
      expect([call.requestId, row.cost_usd ?? undefined, row.price_id ?? undefined]).toEqual([
        call.requestId,
        expected.costUsd,
        expected.price?.priceId,
      ]);
    }
    expect(new Set(rows.map((r) => r.price_id))).toEqual(
      new Set([null, "00000000-0000-7000-8000-0000000000a1", "00000000-0000-7000-8000-0000000000a2"]),
    );
  });

  it("keeps what a failed sender's cancelled stream committed, and a resend completes it exactly once", async () => {
    // given: a source that fails after 3,000 events
    async function* failing() {
      for (let i = 0; i < 3_000; i++) yield apiCall(`cut-${i}`);
      throw new Error("the orchestrator crashed");
    }
    // when
    const error = await t.client.ingestEvents(failing()).then(() => undefined, (e: unknown) => e as Error);
    // then the caller sees its own failure; what the server had committed (it may still be finishing chunks it
    // had taken) is found by the resend of all 5,000, which stores every event exactly once
    expect(error?.message).toBe("the orchestrator crashed");
    const all = Array.from({ length: 5_000 }, (_, i) => apiCall(`cut-${i}`));
    const resend = await t.client.ingestEvents(all);
    const summary = resend.summary!;
    expect(Number(summary.acceptedCount) + Number(summary.duplicateCount)).toBe(5_000);
    expect(Number(summary.duplicateCount)).toBeLessThanOrEqual(3_000);
    expect(summary.rejectedCount).toBe("0");
    expect(await rowCount()).toBe(5_000);
  });

  it("generates request ids for events without one, so each is stored", async () => {
    const response = await t.client.ingestEvents([apiCall(""), apiCall("")]);
    expect(counts(response.summary)).toEqual({ accepted: "2", duplicate: "0", rejected: "0" });
  });
});
