import { status } from "@grpc/grpc-js";
import { sql } from "kysely";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  CostTrackingError,
  EventStatus,
  WatchBudgetLevel,
  WatchBudgetScope,
  WatchBudgetThreshold,
  WatchGroupBy,
  type CostTrackingClient,
  type DeepPartial,
  type TrackApiCallRequest,
  type WatchStatsRequest,
} from "../../client/index.js";
import { Money } from "../../src/money.js";
import { ENGINES } from "../support/database.js";
import { eventually, Monitor } from "../support/monitor.js";
import { fixedClock, startTestService, type TestService } from "../support/service.js";

const ms = (millis: number) => ({ seconds: String(Math.floor(millis / 1000)), nanos: (millis % 1000) * 1_000_000 });
const FAST = { minInterval: ms(100) };

/** A gpt-4o-mini call (input $0.15 and output $0.60 per million tokens) made now. */
const call = (over: DeepPartial<TrackApiCallRequest> = {}): DeepPartial<TrackApiCallRequest> => ({
  model: "gpt-4o-mini",
  provider: "openai",
  usage: { inputTokens: "1000", outputTokens: "500" },
  status: EventStatus.EVENT_STATUS_SUCCEEDED,
  ...over,
});

/** Tracks calls and returns the exact sum of the costs the server acknowledged. */
async function trackAll(client: CostTrackingClient, calls: Array<DeepPartial<TrackApiCallRequest>>, concurrency = 16): Promise<Money> {
  let total = new Money(0);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < calls.length) {
        const response = await client.trackApiCall(calls[next++]!);
        total = total.plus(response.costUsd ?? "0");
      }
    }),
  );
  return total;
}

const rejection = (promise: Promise<unknown>) => promise.then(() => undefined, (e: unknown) => e as CostTrackingError);

describe.each(ENGINES)("WatchStats on %s", (engine) => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService(engine, { config: { watchStallSeconds: 1 } });
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    await sql`truncate ledger_event`.execute(t.database.db);
  });
  const monitors: Monitor[] = [];
  /** Opens a monitor that is stopped after the test, whatever happens. */
  const watch = (request: DeepPartial<WatchStatsRequest>) => {
    const monitor = new Monitor(t.client, request);
    monitors.push(monitor);
    return monitor;
  };
  afterEach(async () => {
    await Promise.all(monitors.splice(0).map((m) => m.stop()));
    await eventually(() => t.service.watches.load.streams === 0, "every stream closed on the server");
  });

  it("sends a first snapshot, then one with exactly the tracked calls and their exact total cost", async () => {
    // given
    const monitor = watch({ period: "all", ...FAST });
    await monitor.until((m) => m.snapshots.length === 1, "the first snapshot");
    expect(monitor.latest).toMatchObject({ sequence: "1", stats: { totals: { callCount: "0", costUsd: "0" } } });
    // when
    const calls = Array.from({ length: 10 }, (_, i) => call({ usage: { inputTokens: String(1000 + i), outputTokens: String(7 * i) } }));
    const total = await trackAll(t.client, calls);
    // then
    await monitor.until((m) => m.latest?.stats?.totals?.callCount === "10", "10 calls");
    expect(monitor.latest!.stats!.totals!.costUsd).toBe(total.toFixed());
    expect(monitor.latest!.stats!.succeededCallCount).toBe("10");
    expect(monitor.error).toBeUndefined();
  });

  it("sends snapshots equal to GetStats for the same filter, grouped and limited", async () => {
    await trackAll(t.client, [
      call({ operation: "draft", agentId: "writer", usage: { inputTokens: "3000000", outputTokens: "0" } }),
      call({ operation: "review", model: "unknown-model", agentId: "writer" }),
      call({ operation: "research", agentId: "writer", usage: { inputTokens: "1000000", outputTokens: "0" } }),
      call({ operation: "draft", agentId: "reviewer" }),
    ]);
    const request: DeepPartial<WatchStatsRequest> = {
      filter: { agentId: "writer" },
      period: "today",
      groupBy: WatchGroupBy.WATCH_GROUP_BY_OPERATION,
      groupLimit: 2,
      ...FAST,
    };
    const monitor = watch(request);
    await monitor.until((m) => m.snapshots.length === 1, "the first snapshot");
    const stats = await t.client.getStats({ filter: { agentId: "writer" }, period: "today" });
    const { startTime, endTime, ...figures } = stats;
    const snapshot = monitor.latest!;
    expect(snapshot.stats).toEqual(figures);
    expect(snapshot.startTime).toEqual(startTime);
    expect(snapshot.endTime).toEqual(endTime);
    expect(snapshot.groups.map((g) => [g.key, g.totals?.costUsd])).toEqual([
      ["draft", "0.45"],
      ["research", "0.15"],
    ]);
    expect(snapshot.omittedGroupCount).toBe("1");
    expect(snapshot.budget).toMatchObject({
      scope: WatchBudgetScope.WATCH_BUDGET_SCOPE_AGENT,
      scopeId: "writer",
      monthlyBudgetUsd: "150",
      spentUsd: "0.6",
      level: WatchBudgetLevel.WATCH_BUDGET_LEVEL_HEALTHY,
    });
  });

  it("sends nothing new when recorded events do not change the answer", async () => {
    // The watched scope is alice's: bob's calls change neither her figures nor her budget.
    const monitor = watch({ filter: { userId: "alice" }, period: "all", ...FAST });
    await monitor.until((m) => m.snapshots.length === 1, "the first snapshot");
    const everything = watch({ period: "all", ...FAST });
    await trackAll(t.client, [call({ userId: "bob" }), call({ userId: "bob" })]);
    await everything.until((m) => m.latest?.stats?.totals?.callCount === "2", "the other monitor sees both calls");
    await trackAll(t.client, [call({ userId: "alice" })]);
    await monitor.until((m) => m.latest?.stats?.totals?.callCount === "1", "alice's call");
    expect(monitor.snapshots.map((s) => s.sequence)).toEqual(["1", "2"]);
  });

  it("sends heartbeats on an idle stream", async () => {
    const monitor = watch({ filter: { taskId: "idle" }, heartbeatInterval: ms(1000), ...FAST });
    await monitor.until((m) => m.heartbeats >= 2, "two heartbeats");
    expect(monitor.kinds.slice(0, 3)).toEqual(["snapshot", "heartbeat", "heartbeat"]);
  });

  it("frees everything when streams are cancelled", async () => {
    const opened = [
      watch({ period: "all", ...FAST }),
      watch({ period: "all", ...FAST }),
      watch({ filter: { taskId: "x" }, ...FAST }),
    ];
    for (const m of opened) await m.until((x) => x.snapshots.length === 1, "a first snapshot");
    expect(t.service.watches.load).toEqual({ streams: 3, topics: 2 });
    await Promise.all(opened.map((m) => m.stop()));
    await eventually(() => t.service.watches.load.streams === 0, "every stream closed on the server");
    expect(t.service.watches.load).toEqual({ streams: 0, topics: 0 });
  });

  it("refuses a bad request with INVALID_ARGUMENT naming each field", async () => {
    const monitor = watch({
      period: "fortnight",
      window: ms(60_000),
      filter: { startTime: { seconds: "1741543200", nanos: 0 } },
      groupLimit: 5000,
      minInterval: ms(2 * 3_600_000),
      groupBy: 99 as WatchGroupBy,
    });
    await monitor.until((m) => m.done, "the stream to end");
    expect(monitor.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(monitor.error?.fieldViolations.map((v) => v.field).sort()).toEqual(
      ["filter.start_time", "group_by", "group_limit", "min_interval", "period"],
    );
    const both = watch({ period: "today", window: ms(60_000), filter: { endTime: { seconds: "1741543200", nanos: 0 } } });
    await both.until((m) => m.done, "the stream to end");
    expect(both.error?.fieldViolations.map((v) => v.field).sort()).toEqual(["filter.end_time", "window"]);
    expect(monitor.reconnects + both.reconnects).toBe(0);
  });
});

describe.each(ENGINES)("WatchStats budget alerts on %s", (engine) => {
  let t: TestService;
  // Mid-March: the 16th day of a 31-day month has started, so the projection is spent / 16 x 31.
  const clock = fixedClock("2025-03-16T12:00:00Z");
  beforeAll(async () => {
    t = await startTestService(engine, { clock });
  });
  afterAll(() => t?.close());

  /** A call of exactly `usd` dollars (a multiple of $3): gpt-4o-mini input tokens cost $0.15 per million. */
  const spend = (usd: number, over: DeepPartial<TrackApiCallRequest> = {}) =>
    t.client.trackApiCall(call({ usage: { inputTokens: String((usd / 3) * 20_000_000), outputTokens: "0" }, ...over }));

  it("alerts each threshold of the $150 default budget once, as it is crossed, after the snapshot that shows it", async () => {
    const monitor = new Monitor(t.client, { period: "month", ...FAST });
    await monitor.until((m) => m.snapshots.length === 1, "the first snapshot");
    expect(monitor.latest!.budget).toMatchObject({
      scope: WatchBudgetScope.WATCH_BUDGET_SCOPE_GLOBAL,
      monthlyBudgetUsd: "150",
      spentUsd: "0",
      level: WatchBudgetLevel.WATCH_BUDGET_LEVEL_HEALTHY,
      monthStartTime: { seconds: String(Date.parse("2025-03-01T00:00:00Z") / 1000), nanos: 0 },
    });

    const steps: Array<[usd: number, spent: string, alerts: WatchBudgetThreshold[]]> = [
      [60, "60", []], // 40%; projected 60 / 16 x 31 = $116.25, within 110% of the budget
      [63, "123", [WatchBudgetThreshold.WATCH_BUDGET_THRESHOLD_80_PERCENT, WatchBudgetThreshold.WATCH_BUDGET_THRESHOLD_PROJECTION]],
      [15, "138", [WatchBudgetThreshold.WATCH_BUDGET_THRESHOLD_90_PERCENT]],
      [15, "153", [WatchBudgetThreshold.WATCH_BUDGET_THRESHOLD_100_PERCENT]],
      [3, "156", []],
    ];
    const seen: WatchBudgetThreshold[] = [];
    for (const [usd, spent, alerts] of steps) {
      await spend(usd);
      seen.push(...alerts);
      await monitor.until((m) => m.latest?.budget?.spentUsd === spent && m.alerts.length >= seen.length, `$${spent} spent`);
      expect(monitor.alerts.map((a) => a.threshold)).toEqual(seen);
    }
    expect(monitor.alerts.map((a) => a.message)).toEqual([
      "Approaching budget limit at 82.0% ($123.00 of $150.00)",
      "Projected monthly cost $238.31 exceeds budget $150.00",
      "90% of monthly budget used ($138.00 of $150.00)",
      "Budget exceeded! Spent $153.00 of $150.00",
    ]);
    expect(monitor.alerts[1]!.budget).toMatchObject({ projectedMonthEndUsd: "238.3125", projectionWarning: true, spentUsd: "123" });
    // Each alert follows the snapshot that first shows its crossing.
    expect(monitor.kinds).toEqual(["snapshot", "snapshot", "snapshot", "alert", "alert", "snapshot", "alert", "snapshot", "alert", "snapshot"]);
    expect(monitor.latest!.budget).toMatchObject({ level: WatchBudgetLevel.WATCH_BUDGET_LEVEL_CRITICAL, percentUsed: 104 });

    // A stream opened above the thresholds shows the state, without alerts for crossings it did not see.
    const late = new Monitor(t.client, { ...FAST });
    await late.until((m) => m.snapshots.length === 1, "the first snapshot");
    expect(late.latest!.budget?.level).toBe(WatchBudgetLevel.WATCH_BUDGET_LEVEL_CRITICAL);
    expect(late.alerts).toEqual([]);

    // A user's monitor follows that user's budget, not the global one.
    const alice = new Monitor(t.client, { filter: { userId: "alice" }, ...FAST });
    await alice.until((m) => m.snapshots.length === 1, "the first snapshot");
    await spend(126, { userId: "alice" });
    await alice.until((m) => m.latest?.budget?.spentUsd === "126" && m.alerts.length >= 2, "alice's spending");
    expect(alice.latest!.budget).toMatchObject({ scope: WatchBudgetScope.WATCH_BUDGET_SCOPE_USER, scopeId: "alice" });
    expect(alice.alerts.map((a) => a.threshold)).toEqual([
      WatchBudgetThreshold.WATCH_BUDGET_THRESHOLD_80_PERCENT,
      WatchBudgetThreshold.WATCH_BUDGET_THRESHOLD_PROJECTION,
    ]);
    await Promise.all([monitor.stop(), late.stop(), alice.stop()]);
  });
});
