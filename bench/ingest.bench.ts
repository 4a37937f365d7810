// `npm run bench`: ingestion speed through one server into PostgreSQL, as ratios against baselines measured in the
// same run on the same machine (see docs/BENCHMARKS.md, whose figures section this rewrites).
//
// Environment: BENCH_POSTGRES_URL (a server where the database ct_bench may be dropped and created; default
// postgres://postgres@127.0.0.1:5432/postgres), BENCH_EVENTS (events per bulk measurement, default 100,000),
// BENCH_UNARY_EVENTS (unary calls at concurrency 64, default 20,000; a tenth of that at concurrency 1),
// BENCH_LARGE_LEDGER_ROWS (events already in the ledger for the second round, default 10,000,000; 0 skips it),
// BENCH_REPEAT (runs of each measurement, whose median is reported; default 3).
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { cpus, loadavg, totalmem } from "node:os";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { credentials, Metadata, type Client } from "@grpc/grpc-js";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { createCostTrackingClient, EventStatus, TrackApiCallRequest, type CostTrackingClient, type EventRecord } from "../client/index.js";
import { openDatabase } from "../src/db/database.js";
import { migrateToLatest } from "../src/db/migrator.js";
import { newEventId } from "../src/ledger/event-id.js";
import { EchoClient } from "./echo-server.js";

const ADMIN_URL = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const UNARY_EVENTS = Number(process.env.BENCH_UNARY_EVENTS ?? 20_000);
const UNARY_EVENTS_SERIAL = Math.max(1, Math.round(UNARY_EVENTS / 10));
const LARGE_LEDGER_ROWS = Number(process.env.BENCH_LARGE_LEDGER_ROWS ?? 10_000_000);
const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT ?? 3));
const DB_NAME = "ct_bench";
const dbUrl = (() => {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${DB_NAME}`;
  return url.toString();
})();

const COLUMNS = [
  "id", "request_id", "content_hash", "kind", "occurred_at", "task_id", "agent_id", "agent_execution_id", "user_id",
  "operation", "model", "provider", "endpoint", "input_tokens", "cache_read_input_tokens", "cache_write_input_tokens",
  "output_tokens", "reasoning_output_tokens", "cost_usd", "price_id", "duration_ms", "status", "error_message",
] as const;
const TYPES: Record<(typeof COLUMNS)[number], string> = {
  id: "uuid", request_id: "text", content_hash: "text", kind: "text", occurred_at: "timestamptz", task_id: "text",
  agent_id: "text", agent_execution_id: "text", user_id: "text", operation: "text", model: "text", provider: "text",
  endpoint: "text", input_tokens: "int8", cache_read_input_tokens: "int8", cache_write_input_tokens: "int8",
  output_tokens: "int8", reasoning_output_tokens: "int8", cost_usd: "numeric", price_id: "uuid", duration_ms: "int8",
  status: "text", error_message: "text",
};
type Row = Array<string | null>;

const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

// ---------------------------------------------------------------------------------------------------------------
// Workload: realistic calls (1,000 users, 50 agents, tasks of ~20 calls, client-generated UUID request ids, times
// over the last 30 days in arrival order), the same for every path.

function makeEvents(count: number, tag: string): EventRecord[] {
  const now = Date.now();
  const span = 30 * 24 * 3600 * 1000;
  return Array.from({ length: count }, (_, i) => {
    const millis = now - span + Math.floor((i / count) * span);
    const input = 200 + ((i * 7_919) % 20_000);
    return {
      apiCall: TrackApiCallRequest.fromPartial({
        requestId: randomUUID(),
        callTime: { seconds: String(Math.floor(millis / 1000)), nanos: (millis % 1000) * 1_000_000 },
        taskId: `task-${tag}-${Math.floor(i / 20)}`,
        agentId: `agent-${i % 50}`,
        agentExecutionId: `exec-${tag}-${Math.floor(i / 5)}`,
        userId: `user-${i % 1000}`,
        operation: ["research", "draft", "review", "chat_completion"][i % 4]!,
        model: "gpt-4o-mini",
        provider: "openai",
        endpoint: "/v1/chat/completions",
        usage: { inputTokens: String(input), cacheReadInputTokens: String(i % 3 === 0 ? input >> 2 : 0), outputTokens: String((i * 104_729) % 2_000) },
        durationMs: String(300 + (i % 4000)),
        status: EventStatus.EVENT_STATUS_SUCCEEDED,
      }),
    };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Processes and connections.

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

/** Starts a tsx process and waits until `ready` succeeds against it. */
async function startProcess(args: string[], env: Record<string, string>, ready: () => Promise<void>) {
  // BENCH_SERVER_NODE_OPTIONS (for example --cpu-prof) reaches the service and echo processes only.
  const nodeOptions = (process.env.BENCH_SERVER_NODE_OPTIONS ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...nodeOptions, "--import", "tsx", ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  child.stdout!.resume();
  for (let attempt = 0; ; attempt++) {
    try {
      await ready();
      return child;
    } catch (error) {
      if (attempt > 200 || child.exitCode !== null) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function stop(child: ChildProcess) {
  if (child.exitCode !== null) return;
  child.kill("SIGTERM");
  await once(child, "exit");
}

// ---------------------------------------------------------------------------------------------------------------
// Measurements. Each returns events (or rows, or calls) per second of wall time, from the first send to the last
// acknowledgement.

interface Result {
  name: string;
  count: number;
  seconds: number;
  rate: number;
}

async function measure(name: string, count: number, run: () => Promise<void>): Promise<Result> {
  const started = performance.now();
  await run();
  const seconds = (performance.now() - started) / 1000;
  const result = { name, count, seconds, rate: count / seconds };
  log(`${name}: ${count} in ${seconds.toFixed(2)} s = ${Math.round(result.rate)}/s`);
  return result;
}

async function concurrently(count: number, concurrency: number, one: (index: number) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await one(next++);
    }),
  );
}

function insertStatement(rows: Row[], form: "unnest" | "writer"): { text: string; values: unknown[] } {
  const values = COLUMNS.map((_, c) => rows.map((row) => row[c]));
  const casts = COLUMNS.map((column, c) => `$${c + 1}::${TYPES[column]}[]`).join(", ");
  const select = `select * from unnest(${casts}) as new_event (${COLUMNS.join(", ")})`;
  if (form === "unnest") return { text: `insert into ledger_event (${COLUMNS.join(", ")}) ${select}`, values };
  // The writer's statement (src/ledger/ledger.repository.ts): claim the request ids, insert the claimed events.
  return {
    text: `with incoming as (${select}),
      claimed as (insert into ledger_request_key (request_id, occurred_at) select request_id, occurred_at from incoming
                  on conflict (request_id) do nothing returning request_id)
      insert into ledger_event (${COLUMNS.join(", ")}) select incoming.* from incoming join claimed using (request_id)`,
    values,
  };
}

function valuesStatement(rows: Row[]): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const tuples = rows.map((row) => `(${row.map((value, c) => (values.push(value), `$${values.length}::${TYPES[COLUMNS[c]!]}`)).join(", ")})`);
  return { text: `insert into ledger_event (${COLUMNS.join(", ")}) values ${tuples.join(", ")}`, values };
}

async function plainInsert(pool: pg.Pool, rows: Row[], batch: number, form: "unnest" | "values" | "writer") {
  const client = await pool.connect();
  try {
    for (let i = 0; i < rows.length; i += batch) {
      const slice = rows.slice(i, i + batch);
      const statement = form === "values" ? valuesStatement(slice) : insertStatement(slice, form);
      await client.query(statement.text, statement.values);
    }
  } finally {
    client.release();
  }
}

const copyText = (value: string | null) => (value === null ? "\\N" : value.replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n").replace(/\r/g, "\\r"));

async function copyRows(pool: pg.Pool, rows: Row[]) {
  const client = await pool.connect();
  try {
    const sink = client.query(copyFrom(`copy ledger_event (${COLUMNS.join(", ")}) from stdin`));
    async function* lines() {
      for (let i = 0; i < rows.length; i += 1000) {
        yield rows.slice(i, i + 1000).map((row) => row.map(copyText).join("\t")).join("\n") + "\n";
      }
    }
    await pipeline(Readable.from(lines()), sink);
  } finally {
    client.release();
  }
}

/** Fresh rows for the baselines on a full ledger: new (time-ordered) ids and request ids, same content otherwise. */
function freshRows(rows: Row[]): Row[] {
  return rows.map((row) => {
    const copy = [...row];
    copy[0] = newEventId();
    copy[1] = randomUUID();
    return copy;
  });
}

// ---------------------------------------------------------------------------------------------------------------

async function fillLedger(pool: pg.Pool, rows: number) {
  log(`filling the ledger with ${rows.toLocaleString("en-US")} events (generate_series, indexes rebuilt after)`);
  const client = await pool.connect();
  try {
    const { rows: indexes } = await client.query<{ name: string; def: string; constraint: boolean }>(`
      select i.indexname as name, coalesce('alter table ledger_event add constraint ' || c.conname || ' ' || pg_get_constraintdef(c.oid), i.indexdef) as def,
             c.oid is not null as constraint
      from pg_indexes i left join pg_constraint c on c.conname = i.indexname and c.conrelid = 'ledger_event'::regclass
      where i.tablename = 'ledger_event'`);
    for (const index of indexes) {
      await client.query(index.constraint ? `alter table ledger_event drop constraint ${index.name}` : `drop index ${index.name}`);
    }
    await client.query("alter table ledger_request_key drop constraint ledger_request_key_pkey");
    // The ledger is partitioned by month: the partitions of the generated months first.
    await client.query(`select ledger_event_ensure_partition(m) from generate_series(now() - interval '121 days', now() + interval '1 month', interval '1 month') as m`);
    const chunk = 1_000_000;
    for (let start = 0; start < rows; start += chunk) {
      const end = Math.min(rows, start + chunk) - 1;
      await client.query(`
        insert into ledger_event (${COLUMNS.join(", ")})
        select (lpad(to_hex(ms), 12, '0') || '7' || substr(h, 1, 3) || '8' || substr(h, 4, 15))::uuid,
          gen_random_uuid()::text, substr(h, 1, 43), 'api_call', to_timestamp(ms / 1000.0),
          'task-old-' || (i / 20), 'agent-' || (i % 50), 'exec-old-' || (i / 5), 'user-' || (i % 1000),
          (array['research', 'draft', 'review', 'chat_completion'])[1 + i % 4], 'gpt-4o-mini', 'openai', '/v1/chat/completions',
          200 + (i * 7919) % 20000, 0, 0, (i * 104729) % 2000, 0,
          ((200 + (i * 7919) % 20000) * 0.15 + ((i * 104729) % 2000) * 0.6) / 1000000,
          '00000000-0000-7000-8000-000000000001', 300 + i % 4000, 'succeeded', null
        from (select i, md5(i::text) as h,
                (extract(epoch from now() - interval '120 days') * 1000)::bigint + i * (90::bigint * 86400000 / ${rows}) as ms
              from generate_series(${start}::bigint, ${end}::bigint) as i) as g`);
      log(`  ${(end + 1).toLocaleString("en-US")} rows`);
    }
    log("  request keys");
    await client.query("insert into ledger_request_key (request_id, occurred_at) select request_id, occurred_at from ledger_event");
    await client.query("alter table ledger_request_key add constraint ledger_request_key_pkey primary key (request_id)");
    for (const index of indexes) {
      log(`  rebuilding ${index.name}`);
      await client.query(index.def);
    }
    await client.query("vacuum analyze ledger_event");
    await client.query("checkpoint");
  } finally {
    client.release();
  }
}

async function main() {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  const { rows: [version] } = await admin.query<{ server_version: string }>("show server_version");
  const { rows: settings } = await admin.query<{ name: string; setting: string; unit: string | null }>(
    "select name, setting, unit from pg_settings where name in ('shared_buffers', 'synchronous_commit', 'max_wal_size')",
  );
  await admin.query(`drop database if exists ${DB_NAME} with (force)`);
  await admin.query(`create database ${DB_NAME}`);
  await admin.end();
  const handle = await openDatabase({ databaseUrl: dbUrl, maxConnections: 1 });
  await migrateToLatest(handle.db);
  await handle.close();
  const pool = new pg.Pool({ connectionString: dbUrl, max: 2 });
  const truncate = () => pool.query("truncate ledger_event").then(() => pool.query("checkpoint"));
  const loadAtStart = loadavg()[0]!;

  const servicePort = await freePort();
  const echoPort = await freePort();
  const address = `127.0.0.1:${servicePort}`;
  let probe: CostTrackingClient | undefined;
  const service = await startProcess(
    ["src/main.ts"],
    { DATABASE_URL: dbUrl, LISTEN_ADDRESS: address, LOG_LEVEL: "warn", REFLECTION: "off" },
    async () => {
      probe ??= createCostTrackingClient(address, { maxAttempts: 1, deadlineMs: 2_000 });
      await probe.calculateCost({ model: "gpt-4o-mini", usage: { inputTokens: "1" } });
    },
  );
  probe?.close();
  const echo = await startProcess(["bench/echo-server.ts", String(echoPort)], {}, async () => {
    const client = new EchoClient(`127.0.0.1:${echoPort}`, credentials.createInsecure());
    try {
      await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 500, (e) => (e ? reject(e) : resolve())));
    } finally {
      client.close();
    }
  });

  const client = createCostTrackingClient(address, { deadlineMs: 120_000 });
  const echoClient = new EchoClient(`127.0.0.1:${echoPort}`, credentials.createInsecure()) as unknown as Client & {
    echo(request: TrackApiCallRequest, metadata: Metadata, callback: (error: Error | null) => void): void;
  };
  const echoOnce = (request: TrackApiCallRequest) =>
    new Promise<void>((resolve, reject) => echoClient.echo(request, new Metadata(), (e) => (e ? reject(e) : resolve())));

  // Every measurement is repeated (BENCH_REPEAT times, the paths interleaved) and its median kept: the machine is
  // shared and noisy, and interleaving spreads the neighbours' load over every path alike.
  const samples = new Map<string, Result[]>();
  const keep = (key: string, result: Result) => samples.set(key, [...(samples.get(key) ?? []), result]);
  const runUnary = (key: string, label: string, count: number, concurrency: number, call: (i: number) => Promise<unknown>) =>
    measure(label, count, () => concurrently(count, concurrency, call)).then((r) => keep(key, r));

  async function round(label: "empty" | "full", repetition: number) {
    const fresh = label === "empty";
    const reset = fresh ? truncate : async () => {};
    const tag = `${label}${repetition}`;
    const events = makeEvents(EVENTS, `${tag}-s`);
    await reset();
    keep(`${label}:stream`, await measure(`${label}: IngestEvents stream`, EVENTS, async () => {
      const { summary } = await client.ingestEvents(events);
      if (summary?.acceptedCount !== String(EVENTS)) throw new Error(`stream stored ${summary?.acceptedCount}`);
    }));
    // The baselines write exactly the rows the service wrote (with fresh keys on the full ledger).
    const { rows: stored } = await pool.query<Record<string, string | null>>(
      `select ${COLUMNS.map((c) => (c === "occurred_at" ? "to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') as occurred_at" : c)).join(", ")}
       from ledger_event where request_id = any($1::text[])`,
      [events.map((e) => e.apiCall!.requestId)],
    );
    const capture = (): Row[] => {
      const base = stored.map((r) => COLUMNS.map((c) => r[c] ?? null));
      return fresh ? base : freshRows(base);
    };
    for (const [form, batch] of [["unnest", 1000], ["unnest", 5000], ["values", 500], ["writer", 1000]] as const) {
      await reset();
      const rows = capture();
      keep(`${label}:insert:${form}:${batch}`, await measure(`${label}: INSERT (${form}, ${batch} rows/statement)`, rows.length, () => plainInsert(pool, rows, batch, form)));
    }
    await reset();
    const copy = capture();
    keep(`${label}:copy`, await measure(`${label}: COPY`, copy.length, () => copyRows(pool, copy)));

    await reset();
    const batchEvents = makeEvents(EVENTS, `${tag}-b`);
    keep(`${label}:batch`, await measure(`${label}: TrackEvents (1,000 per request, 4 in flight)`, EVENTS, () =>
      concurrently(Math.ceil(EVENTS / 1000), 4, async (i) => {
        const { summary } = await client.trackEvents({ events: batchEvents.slice(i * 1000, (i + 1) * 1000) });
        if (summary?.rejectedCount !== "0") throw new Error("batch rejected events");
      })));

    await reset();
    const unary = makeEvents(UNARY_EVENTS, `${tag}-u`).map((e) => e.apiCall!);
    const echoes = makeEvents(UNARY_EVENTS, `${tag}-e`).map((e) => e.apiCall!);
    await runUnary(`${label}:echo64`, `${label}: echo, 64 in flight`, UNARY_EVENTS, 64, (i) => echoOnce(echoes[i]!));
    await runUnary(`${label}:unary64`, `${label}: TrackApiCall, 64 in flight`, UNARY_EVENTS, 64, (i) => client.trackApiCall(unary[i]!));
    await reset();
    const serial = makeEvents(UNARY_EVENTS_SERIAL, `${tag}-1`).map((e) => e.apiCall!);
    await runUnary(`${label}:echo1`, `${label}: echo, 1 in flight`, UNARY_EVENTS_SERIAL, 1, (i) => echoOnce(echoes[i]!));
    await runUnary(`${label}:unary1`, `${label}: TrackApiCall, 1 in flight`, UNARY_EVENTS_SERIAL, 1, (i) => client.trackApiCall(serial[i]!));
  }

  // Warm-up: let both processes compile their hot paths before anything is timed.
  log("warming up");
  await client.ingestEvents(makeEvents(5_000, "warm-s"));
  const warmUnary = makeEvents(2_000, "warm-u").map((e) => e.apiCall!);
  await concurrently(warmUnary.length, 64, (i) => client.trackApiCall(warmUnary[i]!));
  await concurrently(warmUnary.length, 64, (i) => echoOnce(warmUnary[i]!));

  for (let repetition = 1; repetition <= REPEAT; repetition++) await round("empty", repetition);
  if (LARGE_LEDGER_ROWS > 0) {
    await truncate();
    await fillLedger(pool, LARGE_LEDGER_ROWS);
    for (let repetition = 1; repetition <= REPEAT; repetition++) await round("full", repetition);
  }
  const loadAtEnd = loadavg()[0]!;

  client.close();
  echoClient.close();
  await stop(service);
  await stop(echo);
  await pool.end();

  // -------------------------------------------------------------------------------------------------------------
  const median = (key: string) => {
    const rates = (samples.get(key) ?? []).map((r) => r.rate).sort((a, b) => a - b);
    return rates.length === 0 ? NaN : rates[Math.floor(rates.length / 2)]!;
  };
  const spread = (key: string) => {
    const rates = (samples.get(key) ?? []).map((r) => r.rate);
    return rates.length < 2 ? "" : `${fmt(Math.min(...rates))}-${fmt(Math.max(...rates))}`;
  };
  const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "-");
  const pct = (n: number) => (Number.isFinite(n) ? `${Math.round(n * 100)}%` : "-");
  const lines: string[] = [];
  const section = (label: "empty" | "full", title: string) => {
    const best = Math.max(median(`${label}:insert:unnest:1000`), median(`${label}:insert:unnest:5000`), median(`${label}:insert:values:500`));
    const row = (name: string, key: string, base: number, of: string, target?: number) => {
      const ratio = median(key) / base;
      const verdict = target === undefined ? "" : `>= ${Math.round(target * 100)}%: ${ratio >= target ? "met" : "**missed**"}`;
      lines.push(`| ${name} | ${fmt(median(key))} | ${spread(key)} | ${pct(ratio)} of ${of} | ${verdict} |`);
    };
    lines.push(`### ${title}`, "", "| path | events/s (median) | range | ratio | target |", "| --- | ---: | ---: | ---: | --- |");
    row("plain INSERT, unnest arrays, 1,000 rows/statement", `${label}:insert:unnest:1000`, best, "best INSERT");
    row("plain INSERT, unnest arrays, 5,000 rows/statement", `${label}:insert:unnest:5000`, best, "best INSERT");
    row("plain INSERT, VALUES, 500 rows/statement", `${label}:insert:values:500`, best, "best INSERT");
    row("the writer's statement, 1,000 (claim request ids ON CONFLICT DO NOTHING, insert the claimed)", `${label}:insert:writer:1000`, best, "best INSERT");
    row("COPY (text)", `${label}:copy`, best, "best INSERT");
    row("**IngestEvents stream** (100 events/message)", `${label}:stream`, best, "best INSERT", 0.6);
    row("**TrackEvents batch** (1,000 per request, 4 in flight)", `${label}:batch`, best, "best INSERT", 0.6);
    row("echo RPC, 64 in flight (transport floor)", `${label}:echo64`, median(`${label}:echo64`), "echo at 64");
    row("**TrackApiCall, 64 in flight**", `${label}:unary64`, median(`${label}:echo64`), "echo at 64", 0.7);
    row("echo RPC, 1 in flight (transport floor)", `${label}:echo1`, median(`${label}:echo1`), "echo at 1");
    row("TrackApiCall, 1 in flight", `${label}:unary1`, median(`${label}:echo1`), "echo at 1");
    lines.push("");
  };
  lines.push(
    `Run ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC: ${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB,`,
    `Node ${process.version}, PostgreSQL ${version?.server_version} (${settings.map((s) => `${s.name}=${s.setting}${s.unit ?? ""}`).join(", ")}),`,
    `load average ${loadAtStart.toFixed(1)} at the start and ${loadAtEnd.toFixed(1)} at the end. Each figure is the median of ${REPEAT} runs`,
    `(range: slowest-fastest) of ${EVENTS.toLocaleString("en-US")} events per bulk path, ${UNARY_EVENTS.toLocaleString("en-US")} unary calls at 64 in flight`,
    `and ${UNARY_EVENTS_SERIAL.toLocaleString("en-US")} at 1.`,
    "",
  );
  section("empty", "Empty ledger");
  if (LARGE_LEDGER_ROWS > 0) section("full", `Ledger already holding ${LARGE_LEDGER_ROWS.toLocaleString("en-US")} events (and growing by each run's rows)`);
  const figures = lines.join("\n");
  console.log(figures);

  const docPath = new URL("../docs/BENCHMARKS.md", import.meta.url);
  const doc = await readFile(docPath, "utf8").catch(() => "<!-- bench:start -->\n<!-- bench:end -->\n");
  await writeFile(docPath, doc.replace(/<!-- bench:start -->[\s\S]*<!-- bench:end -->/, `<!-- bench:start -->\n${figures}\n<!-- bench:end -->`));
  log("figures written to docs/BENCHMARKS.md");
}

await main();
