import { status } from "@grpc/grpc-js";
import { sql } from "kysely";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  EventStatus,
  WatchGroupBy,
  type CostTrackingError,
  type DeepPartial,
  type TrackApiCallRequest,
  type WatchStatsRequest,
} from "../../client/index.js";
import { ENGINES } from "../support/database.js";
import { eventually, Monitor } from "../support/monitor.js";
import { startTestService, type TestService } from "../support/service.js";

const ms = (millis: number) => ({ seconds: String(Math.floor(millis / 1000)), nanos: (millis % 1000) * 1_000_000 });

/** Sends calls with a fixed number in flight; returns when all are acknowledged. */
async function trackConcurrently(t: TestService, calls: Array<DeepPartial<TrackApiCallRequest>>, concurrency: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < calls.length) await t.client.trackApiCall(calls[next++]!);
    }),
  );
}

/** The i-th call of a varied burst: five agents, seven users, eleven tasks, four operations, some failures. */
const burstCall = (i: number): DeepPartial<TrackApiCallRequest> => ({
  model: i % 17 === 0 ? "unknown-model" : "gpt-4o-mini",
  provider: "openai",
  agentId: `a${i % 5}`,
  userId: `u${i % 7}`,
  taskId: `t${i % 11}`,
  operation: `op${i % 4}`,
  usage: { inputTokens: String(1000 + (i % 97) * 13), outputTokens: String((i % 31) * 7) },
  durationMs: String(100 + (i % 53)),
  status: i % 13 === 0 ? EventStatus.EVENT_STATUS_FAILED : EventStatus.EVENT_STATUS_SUCCEEDED,
});

describe.each(ENGINES)("WatchStats under load on %s", (engine) => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService(engine, { config: { watchStallSeconds: 1 } });
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    await sql`truncate ledger_event`.execute(t.database.db);
  });

  it("keeps 50 monitors exact through a burst of 10,000 events, within their update rate", async () => {
    // given: 50 monitors over ten different views, five each
    const intervalMs = 200;
    const views: Array<[DeepPartial<WatchStatsRequest>, { filter?: object; period?: string }]> = [
      [{ period: "all" }, { period: "all" }],
      [{ filter: { provider: "openai" }, period: "today" }, { filter: { provider: "openai" }, period: "today" }],
      [{ filter: { agentId: "a1" } }, { filter: { agentId: "a1" } }],
      [{ filter: { userId: "u2" }, groupBy: WatchGroupBy.WATCH_GROUP_BY_MODEL }, { filter: { userId: "u2" } }],
      [{ filter: { taskId: "t3" } }, { filter: { taskId: "t3" } }],
      [{ window: ms(3_600_000) }, { period: "last_1h" }],
      [{ filter: { operation: "op2" }, groupBy: WatchGroupBy.WATCH_GROUP_BY_AGENT }, { filter: { operation: "op2" } }],
      [{ filter: { status: EventStatus.EVENT_STATUS_FAILED } }, { filter: { status: EventStatus.EVENT_STATUS_FAILED } }],
      [{ period: "month", groupBy: WatchGroupBy.WATCH_GROUP_BY_USER }, { period: "month" }],
      [{ filter: { agentId: "a0", userId: "u0" } }, { filter: { agentId: "a0", userId: "u0" } }],
    ];
    const monitors = Array.from({ length: 50 }, (_, i) => new Monitor(t.client, { ...views[i % 10]![0], minInterval: ms(intervalMs) }));
    await Promise.all(monitors.map((m) => m.until((x) => x.snapshots.length >= 1, "a first snapshot")));

    // when
    await trackConcurrently(t, Array.from({ length: 10_000 }, (_, i) => burstCall(i)), 32);

    // then: every monitor's latest snapshot equals GetStats for its view...
    const expected = await Promise.all(views.map(([, stats]) => t.client.getStats(stats)));
    expect(expected[0]!.totals?.callCount).toBe("10000");
    await Promise.all(
      monitors.map((monitor, i) => {
        const { startTime: _s, endTime: _e, ...figures } = expected[i % 10]!;
        return monitor.until((m) => JSON.stringify(m.latest?.stats) === JSON.stringify(figures), `monitor ${i} equals GetStats`, 60_000);
      }),
    );
    for (const [i, monitor] of monitors.entries()) {
      const { startTime: _s, endTime: _e, ...figures } = expected[i % 10]!;
      expect(monitor.latest!.stats).toEqual(figures);
      // ...its groups add up to its totals...
      if (monitor.latest!.groups.length > 0) {
        const calls = monitor.latest!.groups.reduce((sum, g) => sum + BigInt(g.totals!.callCount), 0n);
        expect(String(calls)).toBe(figures.totals!.callCount);
      }
      // ...and it got no more snapshots than one per interval since it opened.
      const allowed = 1 + Math.floor((monitor.lastSnapshotAt - monitor.openedAt) / intervalMs);
      expect(monitor.snapshots.length).toBeLessThanOrEqual(allowed);
      expect(monitor.snapshots.map((s) => Number(s.sequence))).toEqual(monitor.snapshots.map((_, k) => k + 1));
    }
    await Promise.all(monitors.map((m) => m.stop()));
    expect(monitors.every((m) => m.error === undefined)).toBe(true);
  });

  it("ends a monitor that never reads with RESOURCE_EXHAUSTED, while ingestion and other monitors go on", async () => {
    // given: a thousand tasks, so that a snapshot grouped by task is large (about 60 KB)
    await trackConcurrently(t, Array.from({ length: 1000 }, (_, i) => ({ ...burstCall(i), taskId: `task-${i}` })), 16);
    const request: DeepPartial<WatchStatsRequest> = {
      period: "all",
      groupBy: WatchGroupBy.WATCH_GROUP_BY_TASK,
      groupLimit: 1000,
      minInterval: ms(100),
    };
    const stalled = t.client.watchStats(request)[Symbol.asyncIterator]();
    const first = await stalled.next();
    expect(first.value?.snapshot?.groups).toHaveLength(1000);
    const reader = new Monitor(t.client, { period: "all", minInterval: ms(100) });

    // when: 80 rounds of calls, each changing the answer, spaced beyond the update interval
    const rounds = 80;
    for (let round = 0; round < rounds; round++) {
      await trackConcurrently(t, Array.from({ length: 5 }, (_, i) => burstCall(1000 + round * 5 + i)), 5);
      await new Promise((r) => setTimeout(r, 110));
    }

    // then: ingestion went on and the reading monitor saw all of it
    await reader.until((m) => m.latest?.stats?.totals?.callCount === String(1000 + rounds * 5), "the reader sees every call");
    // the server gave up on the stalled stream and freed it
    await eventually(() => t.service.watches.load.streams === 1, "the stalled stream closed on the server", 30_000);
    // and what the stalled consumer finds when it reads at last: a bounded backlog, then RESOURCE_EXHAUSTED
    let backlog = 0;
    const error = await (async () => {
      try {
        while (!(await stalled.next()).done) backlog++;
      } catch (thrown) {
        return thrown as CostTrackingError;
      }
      return undefined;
    })();
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error?.reason).toBe("CONSUMER_TOO_SLOW");
    // The backlog is what the transport buffers hold (16 messages on each side, and what is in flight), not one
    // snapshot per change: the rest were coalesced, never buffered.
    expect(backlog).toBeLessThanOrEqual(40);
    expect(backlog).toBeLessThan(rounds / 2);
    await reader.stop();
    expect(reader.error).toBeUndefined();
  });
});
