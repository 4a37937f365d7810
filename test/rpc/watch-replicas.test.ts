import { sql } from "kysely";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createCostTrackingClient, EventStatus, type CostTrackingClient, type DeepPartial, type TrackApiCallRequest } from "../../client/index.js";
import { DEFAULT_CONFIG } from "../../src/config.js";
import { silentLogger } from "../../src/logger.js";
import { Money } from "../../src/money.js";
import { startService, type RunningService } from "../../src/server.js";
import { LISTENER_APPLICATION_NAME } from "../../src/streaming/change-feed.js";
import { ENGINES } from "../support/database.js";
import { eventually, Monitor } from "../support/monitor.js";
import { startServerProcess } from "../support/server-process.js";
import { startTestService, type TestService } from "../support/service.js";

const FAST = { minInterval: { seconds: "0", nanos: 100_000_000 } };

const call = (i: number): DeepPartial<TrackApiCallRequest> => ({
  model: "gpt-4o-mini",
  provider: "openai",
  taskId: "replicas",
  usage: { inputTokens: String(1234 + i * 111), outputTokens: String(56 + i * 7) },
  status: EventStatus.EVENT_STATUS_SUCCEEDED,
});

async function trackSequentially(client: CostTrackingClient, from: number, count: number): Promise<Money> {
  let total = new Money(0);
  for (let i = from; i < from + count; i++) total = total.plus((await client.trackApiCall(call(i))).costUsd ?? "0");
  return total;
}

describe.skipIf(!ENGINES.includes("postgres"))("WatchStats across replicas on PostgreSQL", () => {
  let a: TestService;
  beforeAll(async () => {
    a = await startTestService("postgres");
  });
  afterAll(() => a?.close());
  beforeEach(async () => {
    await sql`truncate ledger_event`.execute(a.database.db);
  });

  it("shows calls tracked through server A to a monitor on server B, a separate process on the same database", async () => {
    // given: server B as its own process, and a monitor on it
    const b = await startServerProcess({ DATABASE_URL: a.database.url!, REFLECTION: "off", SHUTDOWN_GRACE_SECONDS: "5" });
    const clientB = createCostTrackingClient(b.address);
    const monitor = new Monitor(clientB, { filter: { taskId: "replicas" }, period: "all", ...FAST });
    try {
      await monitor.until((m) => m.snapshots.length === 1, "the first snapshot from B");
      // when: 10 calls through A
      const total = await trackSequentially(a.client, 0, 10);
      // then: B's monitor shows exactly those 10 calls and their exact total
      await monitor.until((m) => m.latest?.stats?.totals?.callCount === "10", "10 calls on B's monitor");
      expect(monitor.latest!.stats!.totals!.costUsd).toBe(total.toFixed());
      expect(monitor.error).toBeUndefined();
    } finally {
      await monitor.stop();
      clientB.close();
      b.child.kill("SIGTERM");
      await b.exited;
    }
    expect(b.log()).toContain('"stopped"');
  });

  it("survives the loss of its LISTEN connection: it reconnects, and the next snapshot is correct", async () => {
    // given
    const monitor = new Monitor(a.client, { filter: { taskId: "replicas" }, ...FAST });
    await monitor.until((m) => m.snapshots.length === 1, "the first snapshot");
    const listenerPids = async () =>
      (
        await sql<{ pid: number }>`select pid from pg_stat_activity
          where application_name = ${LISTENER_APPLICATION_NAME} and datname = current_database()`.execute(a.database.db)
      ).rows.map((r) => r.pid);
    const [before] = await listenerPids();
    expect(before).toBeDefined();

    // Two rows written behind the service's back announce nothing: only a resync can reveal them.
    await sql`insert into ledger_event (id, request_id, content_hash, kind, occurred_at, task_id, model, provider,
                input_tokens, output_tokens, cost_usd, status)
              select gen_random_uuid(), 'unannounced-' || n, '-', 'api_call', now(), 'replicas', 'gpt-4o-mini', 'openai',
                     1000, 0, 0.00015, 'succeeded'
              from generate_series(1, 2) as n`.execute(a.database.db);

    // when: the listen connection is killed, as a database restart would
    await sql`select pg_terminate_backend(${before})`.execute(a.database.db);

    // then: the listener comes back on a new connection and the monitor recomputes, on the same stream
    await monitor.until((m) => m.latest?.stats?.totals?.callCount === "2", "the rows committed while nobody listened");
    expect(monitor.latest!.stats!.totals!.costUsd).toBe("0.0003");
    await eventually(async () => {
      const pids = await listenerPids();
      return pids.length === 1 && pids[0] !== before;
    }, "a new listen connection");
    // and the new connection carries the next notifications
    const more = await trackSequentially(a.client, 0, 2);
    await monitor.until((m) => m.latest?.stats?.totals?.callCount === "4", "2 more calls");
    expect(monitor.latest!.stats!.totals!.costUsd).toBe(more.plus("0.0003").toFixed());
    expect(monitor.reconnects).toBe(0);
    await monitor.stop();
    expect(monitor.error).toBeUndefined();
  });
});

describe.each(ENGINES)("the typed client's watch across a server restart on %s", (engine) => {
  let t: TestService;
  let restarted: RunningService | undefined;
  beforeAll(async () => {
    t = await startTestService(engine);
  });
  afterAll(async () => {
    await restarted?.close();
    await t?.close();
  });

  it("reconnects with backoff and resumes with a fresh, correct snapshot", async () => {
    // given
    const monitor = new Monitor(t.client, { filter: { taskId: "replicas" }, ...FAST }, { initialBackoffMs: 50, maxBackoffMs: 500 });
    await monitor.until((m) => m.snapshots.length === 1, "the first snapshot");
    const first = await trackSequentially(t.client, 0, 2);
    await monitor.until((m) => m.latest?.stats?.totals?.callCount === "2", "2 calls");

    // when: the server stops (its streams end with UNAVAILABLE) and a new one starts on the same address
    await t.service.close();
    restarted = await startService({
      config: { ...DEFAULT_CONFIG, listenAddress: `127.0.0.1:${t.service.port}`, shutdownGraceSeconds: 2 },
      logger: silentLogger,
      database: t.database,
    });

    // then: the stream resumes with a fresh snapshot (sequence 1 again) that is correct, and goes on
    await monitor.until((m) => m.reconnects > 0 && m.latest?.sequence === "1", "a fresh snapshot after reconnecting", 30_000);
    expect(monitor.latest!.stats!.totals).toMatchObject({ callCount: "2", costUsd: first.toFixed() });
    const client = createCostTrackingClient(`127.0.0.1:${restarted.port}`);
    const more = await trackSequentially(client, 2, 1);
    client.close();
    await monitor.until((m) => m.latest?.stats?.totals?.callCount === "3", "the call made after the restart");
    expect(monitor.latest!.stats!.totals!.costUsd).toBe(first.plus(more).toFixed());
    await monitor.stop();
    expect(monitor.error).toBeUndefined();
  });
});
