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
