import { status } from "@grpc/grpc-js";
import { sql } from "kysely";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EventStatus, TimeWindow, type CostTrackingError } from "../../client/index.js";
import { ENGINES } from "../support/database.js";
import { fixedClock, startTestService, type TestService } from "../support/service.js";

const at = (iso: string) => ({ seconds: String(Date.parse(iso) / 1000), nanos: 0 });

describe.each(ENGINES)("aggregations on %s", (engine) => {
  let t: TestService;
  const clock = fixedClock("2025-03-12T12:00:00Z");
  beforeAll(async () => {
    t = await startTestService(engine, { clock });
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    await sql`truncate ledger_event`.execute(t.database.db);
  });

  /** Records a gpt-4o-mini call with only input tokens: it costs inputTokens x $0.15 / 1,000,000. */
  const track = (iso: string, inputTokens: number, over: Record<string, unknown> = {}) =>
    t.client.trackApiCall({
      model: "gpt-4o-mini",
      usage: { inputTokens: String(inputTokens), outputTokens: "0" },
      status: EventStatus.EVENT_STATUS_SUCCEEDED,
      callTime: at(iso),
      ...over,
    });

  it("buckets by local day in Asia/Kolkata (+05:30), and the buckets add up to the total", async () => {
    // The issue's $1, $2, $4, $8 calls, scaled to $0.15, $0.30, $0.60, $1.20 by the one seeded price.
    for (const [iso, tokens] of [
      ["2025-03-09T18:00:00Z", 1_000_000],
      ["2025-03-09T19:00:00Z", 2_000_000],
      ["2025-03-10T12:00:00Z", 4_000_000],
      ["2025-03-10T19:00:00Z", 8_000_000],
    ] as const) {
      await track(iso, tokens);
    }
    const result = await t.client.aggregateByPeriod({ window: TimeWindow.TIME_WINDOW_DAY, timeZone: "Asia/Kolkata" });
    expect(result.buckets.map((b) => [b.label, b.totals?.costUsd])).toEqual([
      ["2025-03-09T00:00:00+05:30", "0.15"],
      ["2025-03-10T00:00:00+05:30", "0.9"],
      ["2025-03-11T00:00:00+05:30", "1.2"],
    ]);
    expect(result.totals).toMatchObject({ costUsd: "2.25", callCount: "4", inputTokens: "15000000" });
  });

  it("buckets by local day across the New York DST change, with a 23-hour day", async () => {
    for (const [iso, tokens] of [
      ["2025-03-09T04:59:00Z", 1_000_000],
      ["2025-03-09T05:00:00Z", 2_000_000],
      ["2025-03-10T03:59:00Z", 4_000_000],
      ["2025-03-10T04:30:00Z", 8_000_000],
    ] as const) {
      await track(iso, tokens);
    }
    const result = await t.client.aggregateByPeriod({ window: TimeWindow.TIME_WINDOW_DAY, timeZone: "America/New_York" });
    expect(result.buckets.map((b) => [b.label, b.totals?.inputTokens])).toEqual([
      ["2025-03-08T00:00:00-05:00", "1000000"],
      ["2025-03-09T00:00:00-05:00", "6000000"],
      ["2025-03-10T00:00:00-04:00", "8000000"],
    ]);
    const march9 = result.buckets[1]!;
    const hours = (Number(march9.endTime!.seconds) - Number(march9.startTime!.seconds)) / 3600;
    expect(hours).toBe(23);
  });

  it("sums three calls of 1,000,000,000 input tokens to exactly 3,000,000,000", async () => {
    for (let i = 0; i < 3; i++) await track("2025-03-11T00:00:00Z", 1_000_000_000, { taskId: "big" });
    const task = await t.client.aggregateByTask({ taskId: "big" });
    expect(task.totals).toMatchObject({ inputTokens: "3000000000", callCount: "3", costUsd: "450" });
  });

  it("breaks a task down by operation, model and agent, most expensive first", async () => {
    await track("2025-03-11T00:00:00Z", 2_000_000, { taskId: "t", operation: "draft", agentId: "writer" });
    await track("2025-03-11T00:00:01Z", 1_000_000, { taskId: "t", operation: "research", agentId: "researcher" });
    await track("2025-03-11T00:00:02Z", 1_000_000, { taskId: "t", operation: "draft", agentId: "writer", model: "unknown-model" });
    await track("2025-03-11T00:00:03Z", 5_000_000, { taskId: "other" });
    const task = await t.client.aggregateByTask({ taskId: "t" });
    expect(task.totals).toMatchObject({ costUsd: "0.45", callCount: "3", unpricedCallCount: "1" });
    expect(task.byOperation.map((g) => [g.key, g.totals?.costUsd, g.totals?.callCount])).toEqual([
      ["draft", "0.3", "2"],
      ["research", "0.15", "1"],
    ]);
    expect(task.byModel.map((g) => [g.key, g.totals?.costUsd])).toEqual([
      ["gpt-4o-mini", "0.45"],
      ["unknown-model", "0"],
    ]);
    expect(task.byAgent.map((g) => g.key)).toEqual(["writer", "researcher"]);
  });

  it("answers GetStats for a range word and explicit ranges", async () => {
    await track("2025-03-12T11:30:00Z", 1_000_000, { durationMs: "100" });
    await track("2025-03-12T01:00:00Z", 1_000_000, { durationMs: "300", status: EventStatus.EVENT_STATUS_FAILED });
    await track("2025-03-01T01:00:00Z", 1_000_000, { durationMs: "500" });
    await track("2025-02-20T01:00:00Z", 1_000_000, { durationMs: "700" });
    await t.client.trackAgentExecution({ agentId: "a", durationMs: "1000", status: EventStatus.EVENT_STATUS_SUCCEEDED, startTime: at("2025-03-12T02:00:00Z") });

    const lastHour = await t.client.getStats({ period: "last_1h" });
    expect(lastHour.totals?.callCount).toBe("1");
    const today = await t.client.getStats({ period: "today" });
    expect(today).toMatchObject({ succeededCallCount: "1", failedCallCount: "1", successRatePercent: 50, agentExecutionCount: "1" });
    expect(today.averageCallDurationMs).toBe(200);
    expect(today.p50CallDurationMs).toBe(200);
    expect(today.averageAgentExecutionDurationMs).toBe(1000);
    expect((await t.client.getStats({ period: "month" })).totals?.callCount).toBe("3");
    expect((await t.client.getStats({ period: "week" })).totals?.callCount).toBe("2");
    expect((await t.client.getStats({ period: "all" })).totals?.costUsd).toBe("0.6");
    const explicit = await t.client.getStats({ filter: { startTime: at("2025-02-01T00:00:00Z"), endTime: at("2025-03-01T01:00:00Z") } });
    expect(explicit.totals?.callCount).toBe("1");
  });

  it.each([
    [{ period: "fortnight" }, "period"],
    [{ timeZone: "Mars/Olympus_Mons" }, "time_zone"],
    [{ filter: { startTime: at("2025-03-02T00:00:00Z"), endTime: at("2025-03-01T00:00:00Z") } }, "filter.end_time"],
  ])("refuses GetStats %j with INVALID_ARGUMENT naming %s", async (request, field) => {
    const error = (await t.client.getStats(request).catch((e: unknown) => e)) as CostTrackingError;
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.fieldViolations.map((v) => v.field)).toEqual([field]);
  });

  it("refuses AggregateByPeriod without a window", async () => {
    const error = (await t.client.aggregateByPeriod({}).catch((e: unknown) => e)) as CostTrackingError;
    expect(error.fieldViolations.map((v) => v.field)).toEqual(["window"]);
  });
});
