/**
 * WatchStats benchmark (`npm run bench:watch`; `-- --engine pglite` for the embedded engine, `-- --quick` for a
 * short run). On PostgreSQL it creates and drops its own database on BENCH_POSTGRES_URL (default: the local server
 * as user postgres). Measures, through the real server and the typed client, in one process:
 *
 * 1. latency from an acknowledged TrackApiCall to the first snapshot that includes it, p50 and p99, with 1 and
 *    with 100 monitors attached (100 monitors over 10 different views, every one of which counts the call);
 * 2. the ingest rate (concurrent unary TrackApiCall) with 100 monitors attached, as a ratio of the rate with none,
 *    alternating the two so that drift (a growing ledger, a noisy machine) hits both alike.
 */
import { randomBytes } from "node:crypto";
import {
  createCostTrackingClient,
  EventStatus,
  WatchGroupBy,
  type CostTrackingClient,
  type DeepPartial,
  type TrackApiCallRequest,
  type WatchStatsRequest,
} from "../client/index.js";
import { DEFAULT_CONFIG } from "../src/config.js";
import { openDatabase, type DatabaseHandle } from "../src/db/database.js";
import { silentLogger } from "../src/logger.js";
import { startService } from "../src/server.js";
import { admin, urlOf } from "./bench-support.js";

const args = process.argv.slice(2);
const engine = args.includes("--engine") ? args[args.indexOf("--engine") + 1] : "postgres";
const quick = args.includes("--quick");

const LATENCY_SAMPLES = quick ? 30 : 200;
const INGEST_CALLS = quick ? 1_000 : 5_000;
const INGEST_CONCURRENCY = 32;
const INGEST_ROUNDS = quick ? 1 : 3;

const ms = (millis: number) => ({ seconds: String(Math.floor(millis / 1000)), nanos: (millis % 1000) * 1_000_000 });

/** Ten views a dashboard might hold; each counts every call the benchmark records. */
const VIEWS: Array<DeepPartial<WatchStatsRequest>> = [
  { period: "all" },
  { period: "today" },
  { period: "month" },
  { period: "last_24h" },
  { window: ms(3_600_000) },
  { period: "all", groupBy: WatchGroupBy.WATCH_GROUP_BY_PROVIDER },
  { period: "today", groupBy: WatchGroupBy.WATCH_GROUP_BY_MODEL },
  { period: "today", groupBy: WatchGroupBy.WATCH_GROUP_BY_AGENT },
  { filter: { provider: "openai" }, period: "today" },
  { filter: { model: "gpt-4o-mini" }, period: "today", groupBy: WatchGroupBy.WATCH_GROUP_BY_OPERATION },
];

let sequence = 0;
const newCall = (): DeepPartial<TrackApiCallRequest> => {
  const i = sequence++;
  return {
    model: "gpt-4o-mini",
    provider: "openai",
    agentId: `agent-${i % 50}`,
    userId: `user-${i % 1000}`,
    taskId: `task-${i % 5000}`,
    operation: ["research", "draft", "review", "finalize"][i % 4]!,
    usage: { inputTokens: String(500 + (i % 1500)), outputTokens: String(100 + (i % 700)) },
    durationMs: String(200 + (i % 900)),
    status: EventStatus.EVENT_STATUS_SUCCEEDED,
  };
};

/** A monitor that records when it first saw each call count. */
class Watcher {
  private readonly abort = new AbortController();
  readonly seenAt = new Map<number, number>();
  private highest = -1;
  constructor(client: CostTrackingClient, request: DeepPartial<WatchStatsRequest>) {
    void (async () => {
      try {
        for await (const message of client.watchStats(request, { signal: this.abort.signal })) {
          const count = Number(message.snapshot?.stats?.totals?.callCount ?? -1);
          const now = performance.now();
          for (let c = this.highest + 1; c <= count; c++) this.seenAt.set(c, now);
          this.highest = Math.max(this.highest, count);
        }
      } catch (error) {
        console.error("watcher failed:", error);
      }
    })();
  }
  get count(): number {
    return this.highest;
  }
  stop(): void {
    this.abort.abort();
  }
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const sleep = (millis: number) => new Promise((r) => setTimeout(r, millis));

async function until(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error("timed out");
    await sleep(1);
  }
}

async function measureLatency(client: CostTrackingClient, monitors: number): Promise<{ p50: number; p99: number; samples: number }> {
  const watchers = Array.from({ length: monitors }, (_, i) => new Watcher(client, { ...VIEWS[i % VIEWS.length]!, minInterval: ms(100) }));
  await until(() => watchers.every((w) => w.count >= 0));
  const base = Math.max(...watchers.map((w) => w.count));
  await until(() => watchers.every((w) => w.count === base));
  const latencies: number[] = [];
  for (let k = 1; k <= LATENCY_SAMPLES; k++) {
    await client.trackApiCall(newCall());
    const acked = performance.now();
    await until(() => watchers.every((w) => w.count >= base + k));
    for (const w of watchers) latencies.push(w.seenAt.get(base + k)! - acked);
    // Space the calls beyond the 100 ms update interval, so each sample measures the pipeline, not the rate limit.
    await sleep(110);
  }
  for (const w of watchers) w.stop();
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), samples: latencies.length };
}

async function ingestRate(client: CostTrackingClient): Promise<number> {
  const calls = Array.from({ length: INGEST_CALLS }, newCall);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: INGEST_CONCURRENCY }, async () => {
      while (next < calls.length) await client.trackApiCall(calls[next++]!);
    }),
  );
  return calls.length / ((performance.now() - started) / 1000);
}

async function openBenchDatabase(): Promise<{ database: DatabaseHandle; drop(): Promise<void> }> {
  if (engine === "pglite") {
    const database = await openDatabase({});
    return { database, drop: () => database.close() };
  }
  const name = `watch_bench_${randomBytes(4).toString("hex")}`;
  await admin(`create database ${name}`);
  const database = await openDatabase({ databaseUrl: urlOf(name), maxConnections: 10 });
  return {
    database,
    async drop() {
      await database.close();
      await admin(`drop database if exists ${name} with (force)`);
    },
  };
}

const { database, drop } = await openBenchDatabase();
const service = await startService({
  config: { ...DEFAULT_CONFIG, listenAddress: "127.0.0.1:0", reflection: false },
  logger: silentLogger,
  database,
});
const client = createCostTrackingClient(`127.0.0.1:${service.port}`);
try {
  console.log(`engine ${engine}; Node ${process.version}; ${quick ? "quick run" : "full run"}`);
  // Warm up: prices cached, connections open, JIT warm.
  await ingestRate(client);

  const one = await measureLatency(client, 1);
  console.log(`latency, 1 monitor:    p50 ${one.p50.toFixed(1)} ms  p99 ${one.p99.toFixed(1)} ms  (${one.samples} samples)`);
  const hundred = await measureLatency(client, 100);
  console.log(`latency, 100 monitors: p50 ${hundred.p50.toFixed(1)} ms  p99 ${hundred.p99.toFixed(1)} ms  (${hundred.samples} samples)`);

  const without: number[] = [];
  const withMonitors: number[] = [];
  for (let round = 0; round < INGEST_ROUNDS; round++) {
    without.push(await ingestRate(client));
    // Dashboards as deployed: the default update interval (1 s).
    const watchers = Array.from({ length: 100 }, (_, i) => new Watcher(client, VIEWS[i % VIEWS.length]!));
    await until(() => watchers.every((w) => w.count >= 0));
    withMonitors.push(await ingestRate(client));
    for (const w of watchers) w.stop();
    await sleep(200);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const base = median(without);
  const loaded = median(withMonitors);
  console.log(
    `ingest, ${INGEST_CALLS} calls x ${INGEST_ROUNDS} rounds at concurrency ${INGEST_CONCURRENCY}: ` +
      `no monitors ${base.toFixed(0)} calls/s, 100 monitors ${loaded.toFixed(0)} calls/s, ratio ${(loaded / base).toFixed(2)}`,
  );
  console.log(`  rounds without: ${without.map((r) => r.toFixed(0)).join(", ")}; with: ${withMonitors.map((r) => r.toFixed(0)).join(", ")}`);
} finally {
  client.close();
  await service.close();
  await drop();
}
