// `npm run bench:soak`: the service under a steady load near its ingest capacity for SOAK_SECONDS (default 600),
// with 20 monitors attached. Records the server's RSS over time (it must not grow after warm-up), the error count
// (must be 0) and the final reconciliation (the ledger's totals must equal what the load generator sent), in the
// soak section of docs/BENCHMARKS.md. Runs the server as its own process on the local PostgreSQL, in a database of
// its own that it drops at the end.
import { spawn } from "node:child_process";
import { setMaxListeners } from "node:events";
import { readFile } from "node:fs/promises";
import pg from "pg";
import { CostTracker, createCostTrackingClient, EventStatus, WatchGroupBy } from "../client/index.js";
import { Money, formatMoney } from "../src/money.js";
import { writeBenchmarkSection } from "./bench-support.js";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 600);
const MONITORS = 20;
const ADMIN_URL = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const database = `ct_soak_${process.pid}`;

const admin = new pg.Client(ADMIN_URL);
await admin.connect();
await admin.query(`create database ${database}`);
const url = new URL(ADMIN_URL);
url.pathname = `/${database}`;

const server = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
  env: { ...process.env, DATABASE_URL: url.toString(), LISTEN_ADDRESS: "127.0.0.1:0", LOG_LEVEL: "info" },
  stdio: ["ignore", "ignore", "pipe"],
});
let log = "";
server.stderr!.on("data", (c: Buffer) => (log += c.toString()));
const port = await new Promise<number>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 60_000);
  server.stderr!.on("data", () => {
    const line = log.split("\n").find((l) => l.includes('"message":"serving"'));
    if (line) {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    }
  });
});
const rssMb = async () => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${server.pid}/status`, "utf8"))![1]) / 1024;

const client = createCostTrackingClient(`127.0.0.1:${port}`, { deadlineMs: 30_000 });
let errors = 0;
let sentInput = 0n;
let sentCalls = 0;
const event = (i: number) => {
  const input = 200 + (i % 800);
  sentInput += BigInt(input);
  sentCalls += 1;
  return {
    requestId: `soak-${i}`,
    model: "gpt-4o-mini",
    agentId: `agent-${i % 50}`,
    userId: `user-${i % 1000}`,
    usage: { inputTokens: String(input), outputTokens: "50" },
    status: EventStatus.EVENT_STATUS_SUCCEEDED,
  };
};

// Capacity: how fast the tracker's stream ingests when unthrottled, for 15 s.
let next = 0;
{
  const tracker = new CostTracker(client, { batchSize: 1000, flushIntervalMs: 20, onError: () => errors++ });
  const until = Date.now() + 15_000;
  while (Date.now() < until) await tracker.recordApiCall(event(next++));
  await tracker.close();
}
const capacity = next / 15;
const rate = Math.round(capacity * 0.8);
console.log(`capacity ~${Math.round(capacity)} events/s; soaking at ${rate}/s for ${SECONDS} s with ${MONITORS} monitors`);

// 20 monitors, half grouped, all reading.
const abort = new AbortController();
setMaxListeners(MONITORS * 2, abort.signal); // every monitor listens on the one signal
let snapshots = 0;
const monitors = Array.from({ length: MONITORS }, (_, m) =>
  (async () => {
    try {
      for await (const message of client.watchStats(
        { period: "today", groupBy: m % 2 ? WatchGroupBy.WATCH_GROUP_BY_AGENT : WatchGroupBy.WATCH_GROUP_BY_UNSPECIFIED },
        { signal: abort.signal },
      )) {
        if (message.snapshot) snapshots++;
      }
    } catch {
      errors++;
    }
  })(),
);

const tracker = new CostTracker(client, { batchSize: 1000, flushIntervalMs: 50, onError: () => errors++, onRejected: () => errors++ });
const samples: Array<[number, number]> = [];
const started = Date.now();
let lastSample = 0;
while (Date.now() - started < SECONDS * 1000) {
  const due = Math.floor(((Date.now() - started) / 1000) * rate);
  while (next - Math.round(capacity * 15) < due) await tracker.recordApiCall(event(next++));
  if (Date.now() - lastSample >= 10_000) {
    lastSample = Date.now();
    samples.push([Math.round((Date.now() - started) / 1000), await rssMb()]);
  }
  await new Promise((r) => setTimeout(r, 10));
}
await tracker.close();
abort.abort();
await Promise.all(monitors);
const stats = await client.getStats({ period: "all" });
const expectedCost = formatMoney(new Money(sentInput.toString()).times("0.15").plus(new Money(sentCalls * 50).times("0.6")).div(1_000_000));
const reconciled = stats.totals?.callCount === String(sentCalls) && stats.totals?.costUsd === expectedCost;
client.close();
server.kill("SIGTERM");
await new Promise((r) => server.on("exit", r));
await admin.query(`drop database ${database} with (force)`);
await admin.end();

// Warm-up is the first minute (or the first third of a short run).
const warm = samples.filter(([t]) => t >= Math.min(60, SECONDS / 3));
const rss = (list: typeof samples) => list.map(([, mb]) => mb);
const section = [
  "<!-- soak:start -->",
  "## Soak: steady load with 20 monitors",
  "",
  `Command: \`npm run bench:soak\` (SOAK_SECONDS=${SECONDS}; PostgreSQL 15 at 127.0.0.1:5432, server as its own process; ${new Date().toISOString().slice(0, 10)}).`,
  `Load: the client's CostTracker over IngestEvents at ${rate} events/s, 80% of the ${Math.round(capacity)} events/s it reached unthrottled`,
  `in the same run; ${MONITORS} WatchStats monitors attached throughout (half grouped per agent), ${snapshots} snapshots received.`,
  "",
  "| measure | value |",
  "| --- | ---: |",
  `| events sent in the soak (incl. the capacity probe) | ${sentCalls} |`,
  `| errors (failed batches, rejected events, broken monitor streams) | ${errors} |`,
  `| reconciliation: ledger calls / cost vs sent | ${stats.totals?.callCount} / $${stats.totals?.costUsd} vs ${sentCalls} / $${expectedCost}: ${reconciled ? "equal" : "DIFFERENT"} |`,
  `| server RSS after warm-up: min / max / last, MB | ${Math.min(...rss(warm)).toFixed(0)} / ${Math.max(...rss(warm)).toFixed(0)} / ${rss(warm).at(-1)?.toFixed(0)} |`,
  "",
  `RSS every 10 s (s: MB): ${samples.map(([t, mb]) => `${t}: ${mb.toFixed(0)}`).join(", ")}`,
  "<!-- soak:end -->",
].join("\n");
await writeBenchmarkSection("soak", section);
console.log(section);
if (!reconciled || errors > 0) process.exitCode = 1;
