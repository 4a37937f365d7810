import { execFile } from "node:child_process";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BudgetScopeKind,
  createCostTrackingClient,
  EventStatus,
  RateUnit,
  TimeWindow,
  type CostTrackingClient,
  type DeepPartial,
  type GetStatsResponse,
  type TrackApiCallRequest,
} from "../../client/index.js";
import { DEFAULT_CONFIG } from "../../src/config.js";
import { silentLogger } from "../../src/logger.js";
import { startService, type RunningService } from "../../src/server.js";
import { ENGINES } from "../support/database.js";
import { eventually, Monitor } from "../support/monitor.js";
import { startPrivatePostgres, startStreamingReplica, type PrivatePostgres } from "../support/private-postgres.js";
import { startTestService } from "../support/service.js";

const run = promisify(execFile);

/** A gpt-4o-mini call: 1,000 input tokens at $0.15 and 100 output at $0.60 per million = $0.00021. */
const call = (requestId: string, over: DeepPartial<TrackApiCallRequest> = {}): DeepPartial<TrackApiCallRequest> => ({
  requestId,
  model: "gpt-4o-mini",
  provider: "openai",
  userId: "u-replica",
  agentId: "agent-replica",
  taskId: "task-replica",
  operation: "draft",
  usage: { inputTokens: "1000", outputTokens: "100" },
  status: EventStatus.EVENT_STATUS_SUCCEEDED,
  ...over,
});

const lagMicros = (stats: GetStatsResponse) => {
  const lag = stats.readReplica?.replayLag;
  return lag ? BigInt(lag.seconds) * 1_000_000n + BigInt(Math.floor(lag.nanos / 1000)) : undefined;
};

async function query<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

describe("reads from a streaming read replica (PostgreSQL only: pg_basebackup, hot standby, WAL replay)", () => {
  let primary: PrivatePostgres;
  let replica: PrivatePostgres;
  let service: RunningService;
  let client: CostTrackingClient;
  let monitor: Monitor;
  const primaryRows = async () =>
    Number((await query<{ n: string }>(primary.url("ledger"), "select count(*) as n from ledger_event"))[0]!.n);
  const stats = () => client.getStats({ period: "all" });

  beforeAll(async () => {
    primary = await startPrivatePostgres();
    await query(primary.url(), "create database ledger");
    replica = await startStreamingReplica(primary);
    service = await startService({
      config: {
        ...DEFAULT_CONFIG,
        listenAddress: "127.0.0.1:0",
        databaseUrl: primary.url("ledger"),
        readDatabaseUrl: replica.url("ledger"),
        shutdownGraceSeconds: 2,
      },
      logger: silentLogger,
    });
    client = createCostTrackingClient(`127.0.0.1:${service.port}`, { maxAttempts: 1 });
  });
  afterAll(async () => {
    await monitor?.stop();
    client?.close();
    await service?.close();
    replica?.destroy();
    primary?.destroy();
  });

  it("writes to the primary and answers from the replica once it has replayed them, lag 0", async () => {
    // given a replica that is in recovery (a hot standby) and a monitor watching everything
    expect((await query<{ standby: boolean }>(replica.url("ledger"), "select pg_is_in_recovery() as standby"))[0]!.standby).toBe(true);
    // (a fixed range: its heartbeats never recompute it, so only the change feed and the replica's catch-up do)
    monitor = new Monitor(client, {
      filter: { startTime: { seconds: "1577836800", nanos: 0 } },
      minInterval: { seconds: "0", nanos: 100_000_000 },
    });

    // when 5 calls are tracked
    for (let i = 0; i < 5; i++) await client.trackApiCall(call(`replica-${i}`));

    // then they are on the primary, and the replica's answer eventually equals what was sent, caught up
    expect(await primaryRows()).toBe(5);
    let answer: GetStatsResponse | undefined;
    await eventually(async () => {
      answer = await stats();
      return answer.totals?.callCount === "5" && answer.readReplica?.lagBytes === "0";
    }, "GetStats from the replica shows the 5 calls, caught up");
    expect(answer!.totals?.costUsd).toBe("0.00105");
    expect(answer!.readReplica).toEqual({ standby: true, lagBytes: "0", replayLag: { seconds: "0", nanos: 0 } });
    await monitor.until((m) => m.latest?.stats?.totals?.callCount === "5", "the monitor shows the 5 calls");
    expect(monitor.latest!.stats!.readReplica).toMatchObject({ standby: true, lagBytes: "0" });
  });

  it("while replay is paused, answers the OLD figures with the lag, and keeps writes and their own reads on the primary", async () => {
    // given the replica's replay paused
    await query(replica.url("ledger"), "select pg_wal_replay_pause()");
    const before = service.watches.replicaCatchUps!;

    // when a price is upserted, 4 more calls (one of them at that price) are tracked in one batch (one commit, so
    // one change notice), the priced one is sent again, and a budget is set
    await client.upsertModelPrice({
      model: "replica-model",
      provider: "replica-test",
      effectiveTime: { seconds: "1735689600", nanos: 0 },
      rateUnit: RateUnit.RATE_UNIT_PER_MILLION_TOKENS,
      rates: { input: "1", output: "2" },
    });
    const pricedCall = call("replica-8", { model: "replica-model", provider: "replica-test" });
    const batch = await client.trackEvents({
      events: [...[5, 6, 7].map((i) => ({ apiCall: call(`replica-${i}`) })), { apiCall: pricedCall }],
    });
    expect(batch.summary).toMatchObject({ acceptedCount: "4", duplicateCount: "0", rejectedCount: "0" });
    const resent = await client.trackApiCall(pricedCall);
    await client.setBudget({ scope: { kind: BudgetScopeKind.BUDGET_SCOPE_KIND_USER, id: "u-replica" }, monthlyLimitUsd: "25" });

    // then the writes and what must see them used the primary: the new price applied, the retry found, the budget
    // listed
    expect(resent).toMatchObject({ duplicate: true, costUsd: "0.0012" });
    expect(await primaryRows()).toBe(9);
    expect((await client.listBudgets()).budgets.map((b) => b.monthlyLimitUsd)).toEqual(["25"]);

    // and the questions come from the paused replica: the old figures, with its lag shown
    const answer = await stats();
    expect(answer.totals).toMatchObject({ callCount: "5", costUsd: "0.00105" });
    expect(answer.readReplica?.standby).toBe(true);
    expect(BigInt(answer.readReplica!.lagBytes)).toBeGreaterThan(0n);
    expect(lagMicros(answer)).toBeGreaterThan(0n);
    const table = (await run(process.execPath, ["bin/costctl.mjs", "stats", "--period", "all", "--server", `127.0.0.1:${service.port}`])).stdout;
    expect(table).toMatch(/calls\s+5\n/);
    expect(table).toMatch(/read replica lag\s+[1-9][\d,]* bytes of WAL, \d+\.\d{3} s behind/);
    const old = { callCount: "5", costUsd: "0.00105" };
    expect((await client.aggregateCosts({ period: "all" })).totals).toMatchObject(old);
    expect((await client.aggregateByTask({ taskId: "task-replica" })).totals).toMatchObject(old);
    expect((await client.aggregateByAgent({ period: "all" })).totals).toMatchObject(old);
    expect((await client.aggregateByUser({ period: "all" })).totals).toMatchObject(old);
    expect((await client.aggregateByPeriod({ window: TimeWindow.TIME_WINDOW_DAY })).totals).toMatchObject(old);
    expect((await client.getProviderBreakdown({ period: "all" })).totals).toMatchObject(old);
    expect((await client.getCostSummary({})).weekCostUsd).toBe("0.00105");
    expect((await client.getCostHistory({ days: 2 })).totalCostUsd).toBe("0.00105");
    expect((await client.estimateCost({ history: { operation: "draft" } })).history).toMatchObject({ sampleSize: "1", p50CostUsd: "0.00105" });
    let exported = 0;
    for await (const _event of client.exportEvents({})) exported++;
    expect(exported).toBe(5);
    // the documented read-after-write caveat: the budget just set is not on the replica yet
    const status = await client.getBudgetStatus({ scope: { kind: BudgetScopeKind.BUDGET_SCOPE_KIND_USER, id: "u-replica" } });
    expect(status).toMatchObject({ defaultBudget: true, spentUsd: "0.00105" });

    // and the monitor's computation, woken by the change on the primary, waited for the replica and gave up; no
    // round is waiting any more, so only the server's later check of the replica can bring the monitor 9 calls
    await eventually(() => {
      const rounds = service.watches.replicaCatchUps!;
      return rounds.timedOut > before.timedOut && rounds.waiting === 0;
    }, "the watch round gave up waiting for the paused replica");
    const rounds = service.watches.replicaCatchUps!;
    expect(rounds.rounds - before.rounds).toBe(rounds.timedOut - before.timedOut);
    expect(monitor.latest!.stats!.totals?.callCount).toBe("5");
  });

  it("after replay resumes, catches up exactly, and the monitor gets the new totals without another write", async () => {
    // when replay resumes
    await query(replica.url("ledger"), "select pg_wal_replay_resume()");

    // then every answer catches up exactly
    let answer: GetStatsResponse | undefined;
    await eventually(async () => {
      answer = await stats();
      return answer.totals?.callCount === "9" && answer.readReplica?.lagBytes === "0";
    }, "GetStats from the replica shows the 9 calls, caught up");
    expect(answer!.totals).toMatchObject({ callCount: "9", costUsd: "0.00288", inputTokens: "9000", outputTokens: "900" });
    expect(lagMicros(answer!)).toBe(0n);
    const status = await client.getBudgetStatus({ scope: { kind: BudgetScopeKind.BUDGET_SCOPE_KIND_USER, id: "u-replica" } });
    expect(status).toMatchObject({ defaultBudget: false, spentUsd: "0.00288", budget: { monthlyLimitUsd: "25" } });

    // and the monitor, whose last computation saw the paused replica, is sent the new totals once it has caught up
    await monitor.until((m) => m.latest?.stats?.totals?.costUsd === "0.00288", "the monitor shows the 9 calls");
    expect(monitor.latest!.stats!.totals?.callCount).toBe("9");
    expect(monitor.latest!.stats!.readReplica).toMatchObject({ standby: true, lagBytes: "0" });
    expect(monitor.error).toBeUndefined();
  });
});

describe("without READ_DATABASE_URL", () => {
  for (const engine of ENGINES) {
    it(`answers from the primary, with no replica status in the stats or snapshots (${engine})`, async () => {
      const t = await startTestService(engine);
      try {
        await t.client.trackApiCall(call("no-replica-1"));
        const answer = await t.client.getStats({ period: "all" });
        expect(answer.totals?.callCount).toBe("1");
        expect(answer.readReplica).toBeUndefined();
        const monitor = new Monitor(t.client, { period: "all" });
        await monitor.until((m) => m.latest?.stats?.totals?.callCount === "1", "the first snapshot");
        expect(monitor.latest!.stats!.readReplica).toBeUndefined();
        await monitor.stop();
        expect(t.service.readDatabase).toBeUndefined();
        expect(t.service.watches.replicaCatchUps).toBeUndefined();
      } finally {
        await t.close();
      }
    });
  }

  it("refuses READ_DATABASE_URL without DATABASE_URL: exit 2 with a clear message", async () => {
    const error = (await run(process.execPath, ["--import", "tsx", "src/main.ts"], {
      env: { ...process.env, DATABASE_URL: "", READ_DATABASE_URL: "postgres://postgres@127.0.0.1:5432/replica" },
    }).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(error.code).toBe(2);
    expect(error.stderr).toContain("READ_DATABASE_URL needs DATABASE_URL");
  });
});
