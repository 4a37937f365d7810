import { sql } from "kysely";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CostTracker, EventStatus, type RejectedEvent } from "../../client/index.js";
import { ENGINES } from "../support/database.js";
import { startTestService, type TestService } from "../support/service.js";

const call = (i: number) => ({
  model: "gpt-4o-mini",
  taskId: `tracker-task-${i % 7}`,
  usage: { inputTokens: String(1000 + i), outputTokens: "10" },
  status: EventStatus.EVENT_STATUS_SUCCEEDED,
});

describe.each(ENGINES)("the client's non-blocking tracker on %s", (engine) => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService(engine);
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    await sql`truncate ledger_event`.execute(t.database.db);
  });

  it("returns at once, ships calls and agent runs in batches, and flush() waits until all are stored", async () => {
    // given a tracker with small batches
    const tracker = new CostTracker(t.client, { batchSize: 250, flushIntervalMs: 50 });

    // when an orchestrator records 2,000 calls and 20 agent runs without waiting
    for (let i = 0; i < 2000; i++) void tracker.recordApiCall(call(i));
    for (let i = 0; i < 20; i++) {
      void tracker.recordAgentExecution({ agentId: "writer", durationMs: "100", status: EventStatus.EVENT_STATUS_SUCCEEDED });
    }
    expect(tracker.counters.recorded).toBe(2020);
    await tracker.flush();

    // then every event is stored once and the cost is exact: 3,999,000 input (1000..2999) x $0.15/M + 20,000 output x $0.60/M
    expect(tracker.counters).toMatchObject({ stored: 2020, duplicates: 0, rejected: 0, dropped: 0, failed: 0, pending: 0 });
    const stats = await t.client.getStats({ period: "all" });
    expect(stats.totals).toMatchObject({ callCount: "2000", costUsd: "0.61185" });
    expect(stats.agentExecutionCount).toBe("20");
    await tracker.close();
  });

  it("drops and counts events when its buffer is full and the policy is drop", async () => {
    const tracker = new CostTracker(t.client, { maxBufferedEvents: 10, batchSize: 1000, flushIntervalMs: 60_000, whenFull: "drop" });
    const accepted = await Promise.all(Array.from({ length: 15 }, (_, i) => tracker.recordApiCall(call(i))));
    expect(accepted.filter(Boolean)).toHaveLength(10);
    expect(tracker.counters).toMatchObject({ recorded: 10, dropped: 5 });
    await tracker.close();
    expect(tracker.counters.stored).toBe(10);
    expect(await tracker.recordApiCall(call(99))).toBe(false); // closed
  });

  it("makes the caller wait for room when the policy is wait, losing nothing", async () => {
    const tracker = new CostTracker(t.client, { maxBufferedEvents: 8, batchSize: 4, flushIntervalMs: 10, whenFull: "wait" });
    for (let i = 0; i < 40; i++) expect(await tracker.recordApiCall(call(i))).toBe(true);
    await tracker.close();
    expect(tracker.counters).toMatchObject({ recorded: 40, stored: 40, dropped: 0 });
  });

  it("reports refused events with their batch positions and keeps their neighbours", async () => {
    const refused: Array<[RejectedEvent, string]> = [];
    const tracker = new CostTracker(t.client, { batchSize: 3, onRejected: (r, e) => refused.push([r, e.apiCall?.requestId ?? ""]) });
    await tracker.recordApiCall({ ...call(1), requestId: "ok-1" });
    await tracker.recordApiCall({ ...call(2), requestId: "bad-1", usage: { inputTokens: "-1" } });
    await tracker.recordApiCall({ ...call(3), requestId: "ok-2" });
    await tracker.flush();
    expect(tracker.counters).toMatchObject({ stored: 2, rejected: 1 });
    expect(refused.map(([r, id]) => [Number(r.position), r.reason, id])).toEqual([[1, "INVALID_FIELD", "bad-1"]]);
    await tracker.close();
  });
});
