/**
 * Aggregation benchmark (`npm run bench:aggregation`): the dashboard's four questions answered by the service
 * (rollups + raw tail, through the real gRPC server and typed client) beside the same questions as a plain GROUP BY
 * over the raw ledger, in the same run, on 1M and then 10M generated events over 90 days (1,000 users, 50 agents,
 * 20 models, 5 providers) on PostgreSQL; and the rollups' cost to ingestion as a ratio. Writes its section of
 * docs/BENCHMARKS.md.
 *
 * Environment: BENCH_POSTGRES_URL (an admin URL; default postgres://postgres@127.0.0.1:5432/postgres),
 * BENCH_SIZES (default "1000000,10000000"), BENCH_RUNS (default 15). The databases it creates are dropped at the end.
 */
import { copyFile, mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql, type Kysely } from "kysely";
import { createCostTrackingClient, TimeWindow } from "../client/index.js";
import { foldRollups } from "../src/aggregation/rollup-folder.js";
import { rollupSizes } from "../src/aggregation/rollup.repository.js";
import { DEFAULT_CONFIG } from "../src/config.js";
import { openDatabase } from "../src/db/database.js";
import { MIGRATIONS_DIR, migrateToLatest } from "../src/db/migrator.js";
import type { Database } from "../src/db/schema.js";
import { silentLogger } from "../src/logger.js";
import { startService } from "../src/server.js";
import { admin, timeIt, urlOf, writeBenchmarkSection } from "./bench-support.js";

const SIZES = (process.env.BENCH_SIZES ?? "1000000,10000000").split(",").map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const PLAIN_RUNS = 5;
const NOW = "2026-11-20T12:00:00Z"; // the data covers the 90 days before
const DAY_MS = 86_400_000;

/** The median of `runs` timed runs, after one warm-up run. */
async function p50(fn: () => Promise<unknown>, runs: number): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await timeIt(fn));
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/**
 * Appends `count` generated api_call events in one statement: time-ordered over the 90 days (each task's ~20
 * calls close together), random user, agent, model (each model has one provider), phase and tokens; 2% unpriced,
 * 3% failed. `batch` keeps ids and request ids unique across calls. Events of a later batch interleave in time with
 * the earlier ones, so for the rollups they are late events.
 */
async function generate(db: Kysely<Database>, batch: number, count: number, schema: "partitioned" | "unpartitioned" = "partitioned"): Promise<void> {
  const start = new Date(Date.parse(NOW) - 90 * DAY_MS).toISOString();
  // The partitioned ledger (the current schema) needs each month's partition, and each event's request key.
  if (schema === "partitioned") {
    await sql`select ledger_event_ensure_partition(m) from generate_series(${start}::timestamptz, ${NOW}::timestamptz + interval '1 month', interval '1 month') as m`.execute(db);
  }
  const claimKeys = schema === "partitioned"
    ? sql`insert into ledger_request_key (request_id, occurred_at) select request_id, occurred_at from inserted`
    : sql`select count(*) from inserted`;
  await sql`
    with inserted as (
    insert into ledger_event (id, request_id, content_hash, kind, occurred_at, task_id, agent_id, user_id, operation,
      model, provider, input_tokens, output_tokens, cost_usd, duration_ms, status)
    select lpad(to_hex(${batch}::bigint * 100000000000 + g), 32, '0')::uuid,
      'bench-' || ${batch} || '-' || g, 'bench', 'api_call',
      ${start}::timestamptz + ((g - 1)::float8 / ${count}) * interval '89 days 23 hours 50 minutes' + r.jitter * interval '10 minutes',
      'task-' || ${batch} || '-' || (g / 20), 'agent-' || r.agent, 'user-' || r.usr, r.phase,
      'model-' || r.model, 'provider-' || (r.model % 5), r.input, r.output,
      case when r.unpriced then null else (r.input * 0.15 + r.output * 0.60) / 1000000 end,
      r.duration, case when r.failed then 'failed' else 'succeeded' end
    from generate_series(1, ${count}) as g,
    lateral (select random() as jitter, floor(random() * 50)::int as agent, floor(random() * 1000)::int as usr,
                    (array['research', 'outline', 'draft', 'assess', 'refine', 'finalize'])[1 + floor(random() * 6)::int] as phase,
                    floor(random() * 20)::int as model, 100 + floor(random() * 4000)::int as input,
                    floor(random() * 1000)::int as output, random() < 0.02 as unpriced, random() < 0.03 as failed,
                    floor(random() * 3000)::int as duration, g as dependency) as r
    returning request_id, occurred_at)
    ${claimKeys}`.execute(db);
}

/** The same four questions as plain GROUP BYs over the raw ledger, with the same totals columns. */
const TOTALS = sql.raw(`coalesce(sum(cost_usd), 0), count(*), sum(input_tokens), sum(cache_read_input_tokens),
  sum(cache_write_input_tokens), sum(output_tokens), sum(reasoning_output_tokens), count(*) filter (where cost_usd is null)`);
function plainQuestions(db: Kysely<Database>) {
  const now = Date.parse(NOW);
  const daysAgo = (n: number) => new Date(now - n * DAY_MS).toISOString();
  const monthStart = `${NOW.slice(0, 8)}01T00:00:00Z`;
  return {
    user30d: () =>
      sql`select ${TOTALS} from ledger_event where kind = 'api_call' and user_id = 'user-42' and occurred_at >= ${daysAgo(30)}::timestamptz`.execute(db),
    daily90d: () =>
      sql`select date_trunc('day', occurred_at, 'UTC') as day, ${TOTALS} from ledger_event
          where kind = 'api_call' and occurred_at >= ${daysAgo(90)}::timestamptz group by 1 order by 1`.execute(db),
    providerModel7d: () =>
      sql`select provider, model, ${TOTALS} from ledger_event
          where kind = 'api_call' and occurred_at >= ${daysAgo(7)}::timestamptz group by 1, 2 order by 3 desc`.execute(db),
    topAgentsMonth: () =>
      sql`select agent_id, ${TOTALS} from ledger_event
          where kind = 'api_call' and occurred_at >= ${monthStart}::timestamptz group by 1 order by 2 desc limit 10`.execute(db),
  };
}

interface Row {
  events: number;
  question: string;
  service: number;
  plain: number;
}

async function measureQuestions(dbName: string, events: number): Promise<Row[]> {
  const handle = await openDatabase({ databaseUrl: urlOf(dbName) });
  const clock = { now: () => new Date(NOW) };
  const service = await startService({
    config: { ...DEFAULT_CONFIG, listenAddress: "127.0.0.1:0", databaseUrl: urlOf(dbName), rollupFoldIntervalMs: 60_000 },
    logger: silentLogger,
    database: handle,
    clock,
  });
  const client = createCostTrackingClient(`127.0.0.1:${service.port}`, { deadlineMs: 120_000 });
  const plain = plainQuestions(handle.db);
  const now = Date.parse(NOW);
  const ts = (ms: number) => ({ seconds: String(Math.floor(ms / 1000)), nanos: 0 });
  // The day series over the same 90 local days the plain query reads (from a local midnight, so it is filled).
  const seriesStart = Math.floor((now - 89 * DAY_MS) / DAY_MS) * DAY_MS;
  const questions: Array<[string, () => Promise<unknown>, () => Promise<unknown>]> = [
    ["one user's cost, last 30 days", () => client.aggregateCosts({ filter: { userId: "user-42", startTime: ts(now - 30 * DAY_MS) } }), plain.user30d],
    [
      "cost per day, 90 days",
      () => client.aggregateCosts({ window: TimeWindow.TIME_WINDOW_DAY, timeZone: "UTC", filter: { startTime: ts(seriesStart), endTime: ts(seriesStart + 90 * DAY_MS) } }),
      plain.daily90d,
    ],
    ["provider x model, last 7 days", () => client.getProviderBreakdown({ period: "last_7d" }), plain.providerModel7d],
    ["top 10 agents this month", () => client.aggregateByAgent({ period: "month", limit: 10 }), plain.topAgentsMonth],
  ];
  const rows: Row[] = [];
  for (const [question, viaService, viaPlain] of questions) {
    const serviceMs = await p50(viaService, RUNS);
    const plainMs = await p50(viaPlain, PLAIN_RUNS);
    rows.push({ events, question, service: serviceMs, plain: plainMs });
    console.log(`${events} ${question}: service ${serviceMs.toFixed(1)} ms, plain ${plainMs.toFixed(1)} ms`);
  }
  // Extras, not among the four: the same series in a +05:45 zone (15-minute rollups), and the dashboard's history
  // (which also counts distinct tasks per day).
  const kathmandu = await p50(
    () => client.aggregateCosts({ window: TimeWindow.TIME_WINDOW_DAY, timeZone: "Asia/Kathmandu", filter: { startTime: ts(seriesStart), endTime: ts(seriesStart + 90 * DAY_MS) } }),
    RUNS,
  );
  rows.push({ events, question: "cost per day, 90 days, Asia/Kathmandu (extra)", service: kathmandu, plain: NaN });
  const history = await p50(() => client.getCostHistory({ days: 90 }), Math.min(RUNS, 5));
  rows.push({ events, question: "GetCostHistory 90 days, with distinct tasks per day (extra)", service: history, plain: NaN });
  console.log(`${events} extras: kathmandu ${kathmandu.toFixed(1)} ms, history ${history.toFixed(1)} ms`);
  client.close();
  await service.close();
  await handle.close();
  return rows;
}

/**
 * Ingestion with and without the rollups' hooks (the seq identity column and its index, and the statement trigger
 * that takes the fold lock): the same batches of 1,000 generated events, one statement and transaction each,
 * alternating between a ledger migrated without the rollups migration and one with it.
 */
async function measureIngestionCost(): Promise<{ plain: number; withRollups: number }> {
  const dir = await mkdtemp(join(tmpdir(), "bench-migrations-"));
  try {
    // Both unpartitioned (the schema this measurement was made for): without and with the rollups migration.
    const withRollupsDir = join(dir, "with-rollups");
    await mkdir(withRollupsDir);
    for (const file of ["20261203T140000Z_create_ledger.sql", "20261203T140100Z_seed_launch_prices.sql"]) {
      await copyFile(join(MIGRATIONS_DIR, file), join(dir, file));
    }
    for (const file of (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith(".sql") && f < "20261203T170000Z")) {
      await copyFile(join(MIGRATIONS_DIR, file), join(withRollupsDir, file));
    }
    const names = { plain: "ct_bench_ingest_plain", withRollups: "ct_bench_ingest_rollups" } as const;
    const handles: Record<string, Kysely<Database>> = {};
    for (const [kind, name] of Object.entries(names)) {
      await admin(`drop database if exists ${name} with (force)`);
      await admin(`create database ${name}`);
      const handle = await openDatabase({ databaseUrl: urlOf(name), maxConnections: 1 });
      await migrateToLatest(handle.db, kind === "plain" ? dir : withRollupsDir);
      handles[kind] = handle.db;
    }
    const elapsed = { plain: 0, withRollups: 0 };
    const batches = 60;
    let batch = 1;
    for (let round = 0; round < 4; round++) {
      for (const kind of ["plain", "withRollups"] as const) {
        for (let i = 0; i < batches; i++) elapsed[kind] += await timeIt(() => generate(handles[kind]!, batch++, 1000, "unpartitioned"));
      }
    }
    const rows = 4 * batches * 1000;
    for (const db of Object.values(handles)) await db.destroy();
    for (const name of Object.values(names)) await admin(`drop database if exists ${name}`);
    return { plain: rows / (elapsed.plain / 1000), withRollups: rows / (elapsed.withRollups / 1000) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main() {
  const dbName = "ct_bench_aggregation";
  await admin(`drop database if exists ${dbName} with (force)`);
  await admin(`create database ${dbName}`);
  const handle = await openDatabase({ databaseUrl: urlOf(dbName), maxConnections: 2 });
  await migrateToLatest(handle.db);
  const pgVersion = (await sql<{ v: string }>`select current_setting('server_version') as v`.execute(handle.db)).rows[0]!.v;

  const rows: Row[] = [];
  const folds: Array<{ events: number; rows: number; ms: number }> = [];
  const sizes: Array<{ events: number; rollups: Record<string, string> }> = [];
  let loaded = 0;
  let batch = 0;
  for (const target of SIZES) {
    const chunk = 1_000_000;
    const started = performance.now();
    while (loaded < target) {
      const count = Math.min(chunk, target - loaded);
      await generate(handle.db, ++batch, count);
      loaded += count;
      console.log(`generated ${loaded} events (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    }
    await sql`analyze`.execute(handle.db);
    const foldMs = await timeIt(async () => {
      const moved = await foldRollups(handle.db);
      folds.push({ events: target, rows: Number(moved), ms: 0 });
    });
    folds[folds.length - 1]!.ms = foldMs;
    await sql`analyze`.execute(handle.db);
    sizes.push({ events: target, rollups: await rollupSizes(handle.db) });
    console.log(`folded in ${(foldMs / 1000).toFixed(1)} s; rollups ${JSON.stringify(sizes.at(-1)!.rollups)}`);
    rows.push(...(await measureQuestions(dbName, target)));
  }
  await handle.close();
  await admin(`drop database if exists ${dbName} with (force)`);

  const ingest = await measureIngestionCost();
  const fold = folds.at(-1)!;
  const foldRate = fold.rows / (fold.ms / 1000);
  console.log(`ingest plain ${ingest.plain.toFixed(0)}/s, with rollup hooks ${ingest.withRollups.toFixed(0)}/s, fold ${foldRate.toFixed(0)} rows/s`);

  const fmt = (ms: number) => (Number.isNaN(ms) ? "-" : ms < 10 ? ms.toFixed(1) : ms.toFixed(0));
  const section = [
    "<!-- aggregation:start -->",
    "## Aggregation: dashboard questions, rollups against plain GROUP BY",
    "",
    `Command: \`npm run bench:aggregation\` (PostgreSQL ${pgVersion}, default settings, on this 2-core machine shared with other work;`,
    `${new Date().toISOString().slice(0, 10)}). Generated api_call events over 90 days: 1,000 users, 50 agents, 20 models, 5 providers,`,
    "6 phases, tasks of ~20 calls, 2% unpriced, 3% failed. The 10M set is the 1M set plus 9M events interleaved in time with it",
    "(late events for the fold). \"Service\" is the p50 through the real gRPC server and typed client (rollups plus the raw rows",
    `after the watermark, one snapshot), ${RUNS} runs after a warm-up; "plain" is the same question as one GROUP BY over the raw`,
    `ledger (same totals columns), p50 of ${PLAIN_RUNS} runs, same process. Targets: p50 <= 50 ms at 10M for each, >= 100x for the series.`,
    "",
    "| events | question | service p50 (ms) | plain GROUP BY p50 (ms) | speed-up |",
    "| ---: | --- | ---: | ---: | ---: |",
    ...rows.map(
      (r) =>
        `| ${r.events.toLocaleString("en-US")} | ${r.question} | ${fmt(r.service)} | ${fmt(r.plain)} | ${Number.isNaN(r.plain) ? "-" : `${(r.plain / r.service).toFixed(0)}x`} |`,
    ),
    "",
    "Reading: one user's cost is answered from raw rows through the (user, time) index either way (a per-user rollup",
    "would be as large as the ledger), so there the service only adds the gRPC hop; the other three read rollup rows",
    "whose number does not grow with the ledger (the status rollup has one row per bucket and status), so their",
    "latency stays flat while the plain GROUP BY grows with the events. The dashboard history's distinct-task counts",
    "read the task rollup, whose size does grow with the number of tasks.",
    "",
    "Rollup sizes (rows, all grains) and fold time (the events new since the previous fold, in chunks of 250,000 seq):",
    "",
    "| events | " + Object.keys(sizes[0]!.rollups).join(" | ") + " | fold |",
    "| ---: | " + Object.keys(sizes[0]!.rollups).map(() => "---:").join(" | ") + " | ---: |",
    ...sizes.map((s, i) => `| ${s.events.toLocaleString("en-US")} | ${Object.values(s.rollups).map((n) => Number(n).toLocaleString("en-US")).join(" | ")} | ${(folds[i]!.ms / 1000).toFixed(1)} s for ${folds[i]!.rows.toLocaleString("en-US")} new events |`),
    "",
    "Cost to ingestion (batches of 1,000 events per statement, 240,000 events per variant, alternating):",
    "",
    "| | events/s | ratio |",
    "| --- | ---: | ---: |",
    `| ledger without the rollups migration | ${ingest.plain.toFixed(0)} | 1.00 |`,
    `| with its hooks (seq identity + index, fold-lock trigger) | ${ingest.withRollups.toFixed(0)} | ${(ingest.withRollups / ingest.plain).toFixed(2)} |`,
    `| background fold throughput (events/s, at 10M) | ${foldRate.toFixed(0)} | folding an event takes ${((ingest.withRollups / foldRate) * 100).toFixed(0)}% of the time ingesting it took |`,
    "<!-- aggregation:end -->",
  ].join("\n");
  await writeBenchmarkSection("aggregation", section);
  console.log(section);
}

await main();
