/**
 * Partitioning benchmark (`npm run bench:partitioning`): the monthly-partitioned ledger beside the unpartitioned
 * ledger it replaced (the schema before migrations/20261203T170000Z_partition_ledger_by_month.sql), in the same run
 * on the same PostgreSQL, both holding the same 10M generated events (2026-09-01 to 2026-12-10, so September holds
 * 3M). It measures, alternating between the two so that machine noise falls on both:
 *   - ingest: the write statement of each schema (the partitioned one claims request ids in ledger_request_key and
 *     inserts into the partition; the old one is INSERT ... ON CONFLICT (request_id)), 2,000-event batches;
 *   - dashboard questions answered from the raw ledger (AggregationService without rollups: what partition pruning
 *     changes; the rollups read the same either way), p50;
 *   - dropping September (3M events): the retention pass (request keys, then detach and drop the partition) versus
 *     DELETE ... WHERE occurred_at in September (and the VACUUM that DELETE leaves to do).
 * Writes its section of docs/BENCHMARKS.md.
 *
 * Environment: BENCH_POSTGRES_URL (an admin URL; default postgres://postgres@127.0.0.1:5432/postgres),
 * BENCH_EVENTS (default 10000000), BENCH_RUNS (default 9). The databases it creates are dropped at the end.
 */
import { randomUUID } from "node:crypto";
import { Migrator, sql, type Kysely } from "kysely";
import { foldRollups } from "../src/aggregation/rollup-folder.js";
import { AggregationService, type CostsRequest } from "../src/aggregation/aggregation.service.js";
import { openDatabase, type DatabaseHandle } from "../src/db/database.js";
import { migrateToLatest, SqlFileMigrationProvider } from "../src/db/migrator.js";
import type { Database } from "../src/db/schema.js";
import { insertNewEvents, type NewLedgerEventRow } from "../src/ledger/ledger.repository.js";
import { applyRetention } from "../src/ledger/partitions.js";
import type { Instant } from "../src/time.js";
import { admin, timeIt, urlOf, writeBenchmarkSection } from "./bench-support.js";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 10_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const BEFORE_PARTITIONING = "20261203T160000Z_ledger_cost_source";
const FIRST = "2026-09-01T00:00:00Z";
const SPAN_DAYS = 100; // to 2026-12-10: September, October and November hold 3M events each
const NOW = new Date("2026-12-10T00:00:00Z");
const BATCH = 2_000;
const INGEST_BATCHES_PER_ROUND = 10;
const INGEST_ROUNDS = 10;

const log = (message: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${message}`);

interface Ledger {
  name: "partitioned" | "unpartitioned";
  handle: DatabaseHandle;
  insert(rows: NewLedgerEventRow[]): Promise<unknown>;
}

/** The unpartitioned schema's write statement, as src/ledger/ledger.repository.ts had it before partitioning. */
async function insertUnpartitioned(db: Kysely<Database>, rows: NewLedgerEventRow[]): Promise<void> {
  const columns = Object.keys(rows[0]!) as Array<keyof NewLedgerEventRow>;
  const types: Record<string, string> = {
    id: "uuid", occurred_at: "timestamptz", cost_usd: "numeric", input_tokens: "int8", output_tokens: "int8",
    cache_read_input_tokens: "int8", cache_write_input_tokens: "int8", reasoning_output_tokens: "int8", duration_ms: "int8",
  };
  const arrays = columns.map((c) => sql`${rows.map((r) => (r[c] == null ? null : String(r[c])))}::${sql.raw(types[c] ?? "text")}[]`);
  await sql`
    insert into ledger_event (${sql.join(columns.map((c) => sql.ref(c)))})
    select * from unnest(${sql.join(arrays)})
    on conflict (request_id) do nothing
    returning request_id`.execute(db);
}

/**
 * Fills a ledger with the same deterministic events on both schemas (values derived from the row number, so the
 * two hold identical data), in statements of 1M rows; on the partitioned one also their request keys.
 */
async function fill(ledger: Ledger): Promise<void> {
  const { db } = ledger.handle;
  if (ledger.name === "partitioned") {
    await sql`select ledger_event_ensure_partition(m) from generate_series(${FIRST}::timestamptz, ${FIRST}::timestamptz + interval '4 months', interval '1 month') as m`.execute(db);
  }
  const chunk = 1_000_000;
  for (let start = 1; start <= EVENTS; start += chunk) {
    const end = Math.min(EVENTS, start + chunk - 1);
    await sql`
      insert into ledger_event (id, request_id, content_hash, kind, occurred_at, task_id, agent_id, user_id, operation,
        model, provider, input_tokens, output_tokens, cost_usd, duration_ms, status)
      select (lpad(to_hex(g), 12, '0') || '7000' || '8000' || lpad(to_hex(g), 12, '0'))::uuid,
        'fill-' || g, md5(g::text), 'api_call',
        ${FIRST}::timestamptz + (g - 1) * (${SPAN_DAYS * 86_400}::float8 / ${EVENTS}) * interval '1 second',
        'task-' || (g / 20), 'agent-' || (g % 50), 'user-' || ((g * 7919) % 1000),
        (array['research', 'outline', 'draft', 'assess'])[1 + g % 4], 'model-' || (g % 20), 'provider-' || (g % 5),
        100 + (g * 104729) % 4000, (g * 7907) % 1000,
        ((100 + (g * 104729) % 4000) * 0.15 + ((g * 7907) % 1000) * 0.6) / 1000000,
        (g * 31) % 3000, case when g % 33 = 0 then 'failed' else 'succeeded' end
      from generate_series(${start}::bigint, ${end}::bigint) as g`.execute(db);
    if (ledger.name === "partitioned") {
      await sql`
        insert into ledger_request_key (request_id, occurred_at)
        select request_id, occurred_at from ledger_event where seq >= ${start} and seq <= ${end}`.execute(db);
    }
    log(`${ledger.name}: ${end.toLocaleString("en-US")} events`);
  }
  await sql`vacuum analyze`.execute(db);
}

function newRows(count: number): NewLedgerEventRow[] {
  return Array.from({ length: count }, (_, i) => ({
    id: randomUUID(),
    request_id: randomUUID(),
    content_hash: "bench",
    kind: "api_call" as const,
    occurred_at: `2026-12-0${1 + (i % 9)}T12:00:00.000000Z`,
    task_id: `task-new-${Math.floor(i / 20)}`,
    agent_id: `agent-${i % 50}`,
    user_id: `user-${i % 1000}`,
    operation: "draft",
    model: "model-1",
    provider: "provider-1",
    input_tokens: "1200",
    cache_read_input_tokens: "0",
    cache_write_input_tokens: "0",
    output_tokens: "300",
    reasoning_output_tokens: "0",
    cost_usd: "0.00036",
    duration_ms: "800",
    status: "succeeded" as const,
  }));
}

const iso = (ms: number) => new Date(ms).toISOString().replace("Z", "000Z") as Instant;
const DAY = 86_400_000;
const QUESTIONS: Array<[string, CostsRequest]> = [
  ["last 7 days, per day", { filter: { startTime: iso(NOW.getTime() - 7 * DAY), endTime: iso(NOW.getTime()) }, groupBy: [], window: "day", timeZone: "UTC" }],
  ["one user, last 30 days, per model", { filter: { startTime: iso(NOW.getTime() - 30 * DAY), endTime: iso(NOW.getTime()), userId: "user-7" }, groupBy: ["model"], timeZone: "UTC" }],
  ["month to date, per provider", { filter: { startTime: "2026-12-01T00:00:00.000000Z" as Instant, endTime: iso(NOW.getTime()) }, groupBy: ["provider"], timeZone: "UTC" }],
  ["one task (no time range)", { filter: { taskId: "task-123456" }, groupBy: [], timeZone: "UTC" }],
  ["September, per agent", { filter: { startTime: "2026-09-01T00:00:00.000000Z" as Instant, endTime: "2026-10-01T00:00:00.000000Z" as Instant }, groupBy: ["agent"], timeZone: "UTC" }],
];

async function main(): Promise<void> {
  const suffix = Date.now().toString(36);
  const names = { partitioned: `bench_part_${suffix}`, unpartitioned: `bench_unpart_${suffix}` };
  const ledgers: Ledger[] = [];
  try {
    for (const [kind, name] of Object.entries(names) as Array<[Ledger["name"], string]>) {
      await admin(`create database ${name}`);
      const handle = await openDatabase({ databaseUrl: urlOf(name), maxConnections: 4 });
      if (kind === "partitioned") await migrateToLatest(handle.db);
      else {
        const result = await new Migrator({ db: handle.db, provider: new SqlFileMigrationProvider() }).migrateTo(BEFORE_PARTITIONING);
        if (result.error) throw result.error;
      }
      ledgers.push({
        name: kind,
        handle,
        insert: kind === "partitioned" ? (rows) => insertNewEvents(handle.db, rows) : (rows) => insertUnpartitioned(handle.db, rows),
      });
    }
    for (const ledger of ledgers) await fill(ledger);

    // Ingest, alternating rounds.
    const ingestMs = { partitioned: 0, unpartitioned: 0 };
    for (const ledger of ledgers) await ledger.insert(newRows(BATCH)); // warm-up
    for (let round = 0; round < INGEST_ROUNDS; round++) {
      for (const ledger of round % 2 === 0 ? ledgers : [...ledgers].reverse()) {
        const batches = Array.from({ length: INGEST_BATCHES_PER_ROUND }, () => newRows(BATCH));
        ingestMs[ledger.name] += await timeIt(async () => {
          for (const rows of batches) await ledger.insert(rows);
        });
      }
    }
    const ingested = INGEST_ROUNDS * INGEST_BATCHES_PER_ROUND * BATCH;
    const rate = (name: Ledger["name"]) => ingested / (ingestMs[name] / 1000);
    log(`ingest: partitioned ${rate("partitioned").toFixed(0)}/s, unpartitioned ${rate("unpartitioned").toFixed(0)}/s`);

    // Dashboard questions from the raw ledger, alternating.
    const clock = { now: () => NOW };
    const services = Object.fromEntries(ledgers.map((l) => [l.name, new AggregationService(l.handle.db, clock, { useRollups: false })]));
    const p50s: Array<{ question: string; partitioned: number; unpartitioned: number; same: boolean }> = [];
    for (const [question, request] of QUESTIONS) {
      const times: Record<string, number[]> = { partitioned: [], unpartitioned: [] };
      const answers: Record<string, string> = {};
      for (let run = 0; run <= RUNS; run++) {
        for (const ledger of run % 2 === 0 ? ledgers : [...ledgers].reverse()) {
          let answer: unknown;
          const ms = await timeIt(async () => (answer = await services[ledger.name]!.aggregateCosts(request)));
          if (run > 0) times[ledger.name]!.push(ms); // run 0 warms up
          answers[ledger.name] = JSON.stringify(answer);
        }
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      p50s.push({ question, partitioned: median(times.partitioned!), unpartitioned: median(times.unpartitioned!), same: answers.partitioned === answers.unpartitioned });
      log(`${question}: partitioned ${median(times.partitioned!).toFixed(1)} ms, unpartitioned ${median(times.unpartitioned!).toFixed(1)} ms`);
    }

    // Dropping September.
    const partitioned = ledgers.find((l) => l.name === "partitioned")!.handle.db;
    const unpartitioned = ledgers.find((l) => l.name === "unpartitioned")!.handle.db;
    const septemberCount = async (db: Kysely<Database>) =>
      Number((await sql<{ n: string }>`select count(*) as n from ledger_event where occurred_at >= '2026-09-01' and occurred_at < '2026-10-01'`.execute(db)).rows[0]!.n);
    const september = await septemberCount(partitioned);
    log(`folding the partitioned ledger's rollups before retention (${september.toLocaleString("en-US")} events in September)`);
    await foldRollups(partitioned);
    await sql`checkpoint`.execute(partitioned);
    await sql`checkpoint`.execute(unpartitioned);
    let dropped: string[] = [];
    const retentionMs = await timeIt(async () => (dropped = (await applyRetention(partitioned, "2026-10-01T00:00:00.000000Z" as Instant)).droppedMonths));
    const deleteMs = await timeIt(() => sql`delete from ledger_event where occurred_at >= '2026-09-01' and occurred_at < '2026-10-01'`.execute(unpartitioned));
    const vacuumMs = await timeIt(() => sql`vacuum ledger_event`.execute(unpartitioned));
    if (dropped.join() !== "2026-09" || (await septemberCount(partitioned)) !== 0 || (await septemberCount(unpartitioned)) !== 0) {
      throw new Error(`September was not removed from both ledgers (dropped: ${dropped.join()})`);
    }
    log(`drop September: retention ${retentionMs.toFixed(0)} ms; DELETE ${deleteMs.toFixed(0)} ms + VACUUM ${vacuumMs.toFixed(0)} ms`);

    const ratio = (a: number, b: number) => (a / b).toFixed(2);
    const section = [
      "<!-- partitioning:start -->",
      "## Partitioned versus unpartitioned ledger (issue 9)",
      "",
      `Command: \`npm run bench:partitioning\` (PostgreSQL 15 on this 2-core machine, ${new Date().toISOString().slice(0, 10)}). Both ledgers hold the`,
      `same ${EVENTS.toLocaleString("en-US")} generated events (2026-09-01 to 2026-12-10; ${september.toLocaleString("en-US")} in September), built in the same run;`,
      "every measurement alternates between the two.",
      "",
      `Ingest (the write statement of each schema, ${ingested.toLocaleString("en-US")} new events in ${BATCH.toLocaleString("en-US")}-event batches, one connection):`,
      "",
      "| ledger | events/s | ratio |",
      "| --- | ---: | ---: |",
      `| unpartitioned (INSERT ... ON CONFLICT (request_id)) | ${rate("unpartitioned").toFixed(0)} | 1.00 |`,
      `| partitioned (claim in ledger_request_key, insert into the month) | ${rate("partitioned").toFixed(0)} | ${ratio(rate("partitioned"), rate("unpartitioned"))} |`,
      "",
      `Dashboard questions answered from the raw ledger (rollups off), p50 of ${RUNS} runs:`,
      "",
      "| question | unpartitioned ms | partitioned ms | partitioned / unpartitioned | same answer |",
      "| --- | ---: | ---: | ---: | --- |",
      ...p50s.map((q) => `| ${q.question} | ${q.unpartitioned.toFixed(1)} | ${q.partitioned.toFixed(1)} | ${ratio(q.partitioned, q.unpartitioned)} | ${q.same ? "yes" : "NO"} |`),
      "",
      `Dropping September (${september.toLocaleString("en-US")} events):`,
      "",
      "| how | ms | ratio |",
      "| --- | ---: | ---: |",
      `| DELETE ... WHERE occurred_at in September (unpartitioned) | ${deleteMs.toFixed(0)} | 1.00 |`,
      `| then the VACUUM that reclaims its space | ${vacuumMs.toFixed(0)} | |`,
      `| retention (the service's pass: check the month is folded, DETACH PARTITION, DROP TABLE) | ${retentionMs.toFixed(0)} | ${ratio(retentionMs, deleteMs)} |`,
      "<!-- partitioning:end -->",
    ].join("\n");
    await writeBenchmarkSection("partitioning", section);
    console.log(section);
  } finally {
    for (const ledger of ledgers) await ledger.handle.close();
    for (const name of Object.values(names)) await admin(`drop database if exists ${name} with (force)`);
  }
}

await main();
