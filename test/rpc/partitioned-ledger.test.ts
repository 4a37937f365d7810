import { randomBytes } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { Migrator, sql, type Kysely } from "kysely";
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CostTrackingError, EventStatus, TimeWindow, type DeepPartial, type EventRecord, type TrackApiCallRequest } from "../../client/index.js";
import { foldRollups } from "../../src/aggregation/rollup-folder.js";
import { readWatermark } from "../../src/aggregation/rollup.repository.js";
import { openDatabase, type DatabaseHandle, type Engine } from "../../src/db/database.js";
import { migrateToLatest, SqlFileMigrationProvider } from "../../src/db/migrator.js";
import type { Database } from "../../src/db/schema.js";
import { EventWriter } from "../../src/ledger/event-writer.js";
import type { NewLedgerEventRow } from "../../src/ledger/ledger.repository.js";
import { addMonths, listPartitions, monthOf } from "../../src/ledger/partitions.js";
import { ENGINES } from "../support/database.js";
import { adminQuery, databaseUrl } from "../support/postgres-admin.js";
import { fixedClock, startTestService, type TestService } from "../support/service.js";

const at = (iso: string) => ({ seconds: String(Math.floor(Date.parse(iso) / 1000)), nanos: (Date.parse(iso) % 1000) * 1_000_000 });

const call = (requestId: string, iso: string, costUsd: string, over: DeepPartial<TrackApiCallRequest> = {}): DeepPartial<TrackApiCallRequest> => ({
  requestId,
  model: "gpt-4o-mini",
  provider: "openai",
  taskId: "task-p",
  usage: { inputTokens: "100", outputTokens: "50" },
  status: EventStatus.EVENT_STATUS_SUCCEEDED,
  callTime: at(iso),
  recordedCostUsd: costUsd,
  ...over,
});

const rejection = (promise: Promise<unknown>) => promise.then(() => undefined, (e: unknown) => e as CostTrackingError);

const count = async (db: Kysely<Database>, table: "ledger_event" | "ledger_request_key") =>
  Number((await sql<{ n: string }>`select count(*) as n from ${sql.table(table)}`.execute(db)).rows[0]!.n);

/** A minimal API-call row for the event writer, with a fresh event id. */
const ledgerRow = (requestId: string, contentHash: string, occurredAt: string): NewLedgerEventRow => ({
  id: `00000000-0000-7000-9000-${randomBytes(6).toString("hex")}`,
  request_id: requestId,
  content_hash: contentHash,
  kind: "api_call",
  occurred_at: occurredAt,
  input_tokens: "1",
  cache_read_input_tokens: "0",
  cache_write_input_tokens: "0",
  output_tokens: "1",
  reasoning_output_tokens: "0",
  duration_ms: "0",
  status: "succeeded",
});

/** Rows that sit in a partition other than the one named after their own UTC month (must be none). */
const misplacedRows = async (db: Kysely<Database>) =>
  Number(
    (
      await sql<{ n: string }>`
        select count(*) as n from ledger_event
        where tableoid::regclass::text <> 'ledger_event_' || to_char(occurred_at at time zone 'UTC', 'YYYY_MM')`.execute(db)
    ).rows[0]!.n,
  );

describe.each(ENGINES)("the partitioned ledger on %s", (engine) => {
  let t: TestService;
  const clock = fixedClock("2026-12-03T12:00:00Z");

  beforeAll(async () => {
    t = await startTestService(engine, { clock });
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    await sql`truncate ledger_event`.execute(t.database.db);
  });

  it("has this month's partition and the next two's before any event arrives", async () => {
    // A clock far from the real date: the migration alone created the real month and the next two.
    const later = await startTestService(engine, { clock: fixedClock("2031-06-15T00:00:00Z") });
    try {
      const months = await listPartitions(later.database.db);
      expect(months).toEqual(expect.arrayContaining(["2031-06", "2031-07", "2031-08"]));
      expect(months).not.toContain("2031-09");
    } finally {
      await later.close();
    }
  });

  it("creates an older month's partition on its first event, and files every event under its own month", async () => {
    // given: calls spread over twelve months of 2024, none of which has a partition yet
    expect(await listPartitions(t.database.db)).not.toContain("2024-03");
    const events: Array<DeepPartial<EventRecord>> = [];
    for (let i = 0; i < 1_200; i++) {
      const month = String((i % 12) + 1).padStart(2, "0");
      events.push({ apiCall: call(`span-${i}`, `2024-${month}-${String((i % 28) + 1).padStart(2, "0")}T10:00:00Z`, "0.001") });
    }
    // when
    const first = await t.client.ingestEvents(events);
    const again = await t.client.ingestEvents(events);
    // then
    expect(first.summary).toMatchObject({ acceptedCount: "1200", duplicateCount: "0", rejectedCount: "0" });
    expect(again.summary).toMatchObject({ acceptedCount: "0", duplicateCount: "1200", rejectedCount: "0" });
    const months = await listPartitions(t.database.db);
    for (let m = 1; m <= 12; m++) expect(months).toContain(`2024-${String(m).padStart(2, "0")}`);
    expect(await count(t.database.db, "ledger_event")).toBe(1_200);
    expect(await count(t.database.db, "ledger_request_key")).toBe(1_200);
    expect(await misplacedRows(t.database.db)).toBe(0);
    const stats = await t.client.getStats({ filter: { startTime: at("2024-01-01T00:00:00Z"), endTime: at("2025-01-01T00:00:00Z") } });
    expect(stats.totals).toMatchObject({ callCount: "1200", costUsd: "1.2" });
  });

  it("keeps a request id unique across months: a reuse dated in another month is refused and stores nothing", async () => {
    // given
    const original = await t.client.trackApiCall(call("cross-1", "2025-02-10T08:00:00Z", "0.25"));
    // when: the same request id, same content -> the original; dated in another month -> a reuse
    const retry = await t.client.trackApiCall(call("cross-1", "2025-02-10T08:00:00Z", "0.25"));
    const reuse = await rejection(t.client.trackApiCall(call("cross-1", "2025-07-10T08:00:00Z", "0.25")));
    // then
    expect(retry).toMatchObject({ duplicate: true, eventId: original.eventId, costUsd: "0.25" });
    expect(reuse?.code).toBe(status.INVALID_ARGUMENT);
    expect(reuse?.reason).toBe("REQUEST_ID_REUSED");
    expect(await count(t.database.db, "ledger_event")).toBe(1);
    expect(await count(t.database.db, "ledger_request_key")).toBe(1);
  });

  it("forgets the request ids of deleted events and of a truncated ledger, so the key table never names a missing event", async () => {
    await t.client.trackApiCall(call("gone-1", "2026-11-10T08:00:00Z", "1"));
    await t.client.trackApiCall(call("kept-1", "2026-11-10T08:00:00Z", "2"));
    await sql`delete from ledger_event where request_id = 'gone-1'`.execute(t.database.db);
    expect((await sql<{ request_id: string }>`select request_id from ledger_request_key`.execute(t.database.db)).rows).toEqual([
      { request_id: "kept-1" },
    ]);
    await sql`truncate ledger_event`.execute(t.database.db);
    expect(await count(t.database.db, "ledger_request_key")).toBe(0);
  });
});

describe.each(ENGINES)("ledger retention on %s", (engine) => {
  let t: TestService;
  const clock = fixedClock("2026-09-15T12:00:00Z");

  beforeAll(async () => {
    t = await startTestService(engine, { clock, config: { ledgerRetentionMonths: 2 } });
  });
  afterAll(() => t?.close());

  it("drops whole months past the horizon, keeps their sums in the rollups, and refuses events that old", async () => {
    // given: on 2026-09-15 (horizon 2026-07-01) calls in July, August and September, then October and December
    const spent: Array<[string, string, string]> = [
      ["jul-1", "2026-07-01T00:00:00Z", "1.10"],
      ["jul-2", "2026-07-31T23:59:59Z", "0.000000000000000001"],
      ["aug-1", "2026-08-15T12:00:00Z", "2.20"],
      ["sep-1", "2026-09-10T12:00:00Z", "3.30"],
    ];
    for (const [id, iso, cost] of spent) await t.client.trackApiCall(call(id, iso, cost));
    clock.set("2026-12-03T12:00:00Z"); // horizon 2026-10-01
    await t.client.trackApiCall(call("oct-1", "2026-10-01T00:00:00Z", "4.40"));
    await t.client.trackApiCall(call("dec-1", "2026-12-02T00:00:00Z", "5.50"));
    const byMonth = {
      window: TimeWindow.TIME_WINDOW_MONTH,
      timeZone: "UTC",
      filter: { startTime: at("2026-07-01T00:00:00Z"), endTime: at("2027-01-01T00:00:00Z") },
    };
    await foldRollups(t.database.db);
    const before = await t.client.aggregateCosts(byMonth);

    // when
    const report = await t.service.maintenance.runOnce();
    const second = await t.service.maintenance.runOnce();

    // then: July to September are gone as whole partitions
    expect(report.droppedMonths).toEqual(["2026-07", "2026-08", "2026-09"]);
    expect(report.deferredMonths).toEqual([]);
    expect(second.droppedMonths).toEqual([]);
    const months = await listPartitions(t.database.db);
    expect(months).not.toEqual(expect.arrayContaining(["2026-07"]));
    expect(months.filter((m) => m < "2026-10")).toEqual([]);
    expect(months).toEqual(expect.arrayContaining(["2026-10", "2026-12", "2027-01", "2027-02"]));
    expect(await count(t.database.db, "ledger_event")).toBe(2);
    // the request keys of dropped months are kept: they are what refuses a retry of a dropped event
    expect(await count(t.database.db, "ledger_request_key")).toBe(6);
    // the monthly sums are unchanged: they come from the rollups
    const after = await t.client.aggregateCosts(byMonth);
    expect(after).toEqual(before);
    expect(after.rows.map((r) => [r.label.slice(0, 7), r.totals?.costUsd])).toEqual([
      ["2026-07", "1.100000000000000001"],
      ["2026-08", "2.2"],
      ["2026-09", "3.3"],
      ["2026-10", "4.4"],
      ["2026-11", "0"],
      ["2026-12", "5.5"],
    ]);

    // an event before the horizon is refused, naming the field, and stores nothing: neither new nor a dropped one's retry
    for (const refused of [call("late-1", "2026-09-30T23:59:59Z", "9"), call("aug-1", "2026-08-15T12:00:00Z", "2.20")]) {
      const error = await rejection(t.client.trackApiCall(refused));
      expect(error?.code).toBe(status.INVALID_ARGUMENT);
      expect(error?.fieldViolations.map((v) => v.field)).toEqual(["call_time"]);
      expect(error?.fieldViolations[0]?.description).toContain("retention horizon 2026-10-01T00:00:00");
    }
    expect(await count(t.database.db, "ledger_event")).toBe(2);
    expect(await listPartitions(t.database.db)).not.toContain("2026-09");
  });
});

describe("ledger retention at a month's turn", () => {
  it("drops a month one day after it passes the horizon, so a write accepted just before never loses its partition", async () => {
    const clock = fixedClock("2026-10-15T12:00:00Z");
    const t = await startTestService("pglite", { clock, config: { ledgerRetentionMonths: 1 } });
    try {
      await t.client.trackApiCall(call("sep-1", "2026-09-30T12:00:00Z", "1"));
      clock.set("2026-11-01T12:00:00Z"); // September is past the horizon (2026-10-01) since midnight
      expect((await t.service.maintenance.runOnce()).droppedMonths).toEqual([]);
      clock.set("2026-11-02T00:00:00Z");
      expect((await t.service.maintenance.runOnce()).droppedMonths).toEqual(["2026-09"]);
    } finally {
      await t.close();
    }
  });
});

describe.each(ENGINES)("retries of dropped events on %s", (engine) => {
  it("never records again an event whose month was dropped, even a retry without a time of its own", async () => {
    const clock = fixedClock("2026-07-15T12:00:00Z");
    const t = await startTestService(engine, { clock, config: { ledgerRetentionMonths: 1 } });
    try {
      // given: a call and a streamed call recorded without a time (so at the server's "now", in July)
      const untimed = { ...call("untimed-1", "2026-07-15T12:00:00Z", "1"), callTime: undefined };
      const streamed = { apiCall: { ...call("untimed-2", "2026-07-15T12:00:00Z", "2"), callTime: undefined } };
      await t.client.trackApiCall(untimed);
      await t.client.ingestEvents([streamed]);
      clock.set("2026-09-02T12:00:00Z"); // horizon 2026-08-01: July goes
      expect((await t.service.maintenance.runOnce()).droppedMonths).toEqual(["2026-07"]);
      // when: both are sent again, and would be dated September now
      const retry = await rejection(t.client.trackApiCall(untimed));
      const resent = await t.client.ingestEvents([streamed]);
      // then: refused as already recorded, naming when; nothing is stored twice
      expect(retry?.code).toBe(status.ALREADY_EXISTS);
      expect(retry?.reason).toBe("REQUEST_ID_PAST_RETENTION");
      expect(retry?.message).toContain("2026-07-15T12:00:00");
      expect(resent.summary).toMatchObject({ acceptedCount: "0", duplicateCount: "0", rejectedCount: "1" });
      expect(resent.summary?.rejectedEvents[0]).toMatchObject({ requestId: "untimed-2", reason: "REQUEST_ID_PAST_RETENTION" });
      expect(await count(t.database.db, "ledger_event")).toBe(0);
      expect(await count(t.database.db, "ledger_request_key")).toBe(2);
      const september = await t.client.getStats({ filter: { startTime: at("2026-09-01T00:00:00Z"), endTime: at("2026-10-01T00:00:00Z") } });
      expect(september.totals?.callCount ?? "0").toBe("0");
    } finally {
      await t.close();
    }
  });
});

/** A database of its own with no migrations run, for the conversion test. */
async function emptyDatabase(engine: Engine): Promise<DatabaseHandle> {
  if (engine === "pglite") return openDatabase({});
  const name = `ct_test_partition_${randomBytes(6).toString("hex")}`;
  await adminQuery(`create database ${name}`);
  const handle = await openDatabase({ databaseUrl: databaseUrl(name) });
  return {
    ...handle,
    async close() {
      await handle.close();
      await adminQuery(`drop database if exists ${name} with (force)`);
    },
  };
}

/** Every stored value of every ledger row, in seq order, as one fingerprint (md5) plus the row count. */
async function ledgerFingerprint(db: Kysely<Database>) {
  const { rows } = await sql<{ rows: string; fingerprint: string }>`
    select count(*) as rows, md5(string_agg(
      concat_ws('|', id, request_id, content_hash, kind, occurred_at, recorded_at, task_id, agent_id, agent_execution_id,
        user_id, operation, model, provider, endpoint, input_tokens, cache_read_input_tokens, cache_write_input_tokens,
        output_tokens, reasoning_output_tokens, total_tokens, cost_usd, price_id, duration_ms, status, error_message, seq,
        cost_source),
      E'\n' order by seq)) as fingerprint
    from ledger_event`.execute(db);
  return rows[0]!;
}

async function rollupFingerprint(db: Kysely<Database>) {
  const { rows } = await sql<{ fingerprint: string }>`
    select md5(string_agg(r::text, E'\n' order by r::text)) as fingerprint
    from (select 'task' as t, * from rollup_task) r`.execute(db);
  return rows[0]!.fingerprint;
}

const BEFORE_PARTITIONING = "20261203T160000Z_ledger_cost_source";

describe.each(ENGINES)("converting an unpartitioned ledger on %s", (engine) => {
  let database: DatabaseHandle;
  afterEach(() => database?.close());

  it("moves every row into its month's partition without losing or changing one, and goes on exactly once", async () => {
    // given: a ledger at the schema before partitioning, with 5,000 varied rows over 40 months, folded into the rollups
    database = await emptyDatabase(engine);
    const { db } = database;
    const migrated = await new Migrator({ db, provider: new SqlFileMigrationProvider() }).migrateTo(BEFORE_PARTITIONING);
    expect(migrated.error).toBeUndefined();
    await sql`
      insert into ledger_event (id, request_id, content_hash, kind, occurred_at, recorded_at, task_id, agent_id,
        agent_execution_id, user_id, operation, model, provider, endpoint, input_tokens, cache_read_input_tokens,
        cache_write_input_tokens, output_tokens, reasoning_output_tokens, cost_usd, price_id, duration_ms, status,
        error_message, cost_source)
      select
        ('00000000-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid,
        'old-' || g,
        md5(g::text),
        case when g % 10 = 0 then 'agent_execution' else 'api_call' end,
        timestamptz '2023-09-01 00:00:00+00' + (g * interval '6 hours 17 minutes 3.123456 seconds'),
        timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second',
        case when g % 3 = 0 then null else 'task-' || (g % 17) end,
        'agent-' || (g % 5),
        case when g % 4 = 0 then 'exec-' || (g % 50) end,
        case when g % 7 = 0 then null else 'user-' || (g % 11) end,
        'op', 'model-' || (g % 3), 'provider-' || (g % 2), null,
        g * 1000000000000, 0, 0, g, 0,
        case when g % 9 = 0 then null else (g::numeric / 7)::numeric(40, 30) end,
        null, g % 1000,
        case when g % 13 = 0 then 'failed' else 'succeeded' end,
        case when g % 13 = 0 then 'boom ' || g end,
        case when g % 2 = 0 then 'recorded' end
      from generate_series(1, 5000) as g`.execute(db);
    await foldRollups(db);
    const before = await ledgerFingerprint(db);
    const watermarkBefore = await readWatermark(db);
    const rollupsBefore = await rollupFingerprint(db);
    const monthsWithData = (
      await sql<{ month: string }>`
        select distinct to_char(occurred_at at time zone 'UTC', 'YYYY-MM') as month from ledger_event order by 1`.execute(db)
    ).rows.map((r) => r.month);
    expect(monthsWithData.length).toBeGreaterThan(40);

    // when
    await migrateToLatest(db);

    // then: the same rows, each in its own month, every month (and the next ones) with a partition
    expect(await ledgerFingerprint(db)).toEqual(before);
    expect(before.rows).toBe("5000");
    const kind = await sql<{ relkind: string }>`select relkind from pg_class where relname = 'ledger_event'`.execute(db);
    expect(kind.rows[0]!.relkind).toBe("p");
    const partitions = await listPartitions(db);
    const thisMonth = monthOf(new Date().toISOString());
    expect(partitions).toEqual(expect.arrayContaining([...monthsWithData, thisMonth, addMonths(thisMonth, 2)]));
    expect(await misplacedRows(db)).toBe(0);
    expect(await count(db, "ledger_request_key")).toBe(5_000);
    expect(await readWatermark(db)).toBe(watermarkBefore);
    expect(await rollupFingerprint(db)).toBe(rollupsBefore);

    // and the converted ledger goes on exactly once: an old request id with its content is a duplicate, with other
    // content a reuse, and a new event takes the next seq
    const writer = new EventWriter(db);
    const [duplicate, reused, inserted] = await writer.write([
      ledgerRow("old-17", (await sql<{ h: string }>`select md5('17') as h`.execute(db)).rows[0]!.h, "2026-12-01T00:00:00.000000Z"),
      ledgerRow("old-18", "other content", "2023-09-05T00:00:00.000000Z"),
      ledgerRow("new-1", "new", "2023-09-05T00:00:00.000000Z"),
    ]);
    expect(duplicate).toMatchObject({ status: "duplicate", original: { id: "00000000-0000-7000-8000-000000000011" } });
    expect(reused).toEqual({ status: "reused" });
    expect(inserted).toEqual({ status: "inserted" });
    const seq = await sql<{ seq: string }>`select seq from ledger_event where request_id = 'new-1'`.execute(db);
    expect(BigInt(seq.rows[0]!.seq)).toBeGreaterThan(5000n);
    expect(await count(db, "ledger_event")).toBe(5_001);
  });
});

describe.runIf(ENGINES.includes("postgres"))("a new month behind a long query on PostgreSQL", () => {
  it("answers UNAVAILABLE (retry) when the month's partition cannot be created in time, and the retry stores it once", async () => {
    const t = await startTestService("postgres");
    const reader = new pg.Client({ connectionString: t.database.url! });
    await reader.connect();
    try {
      // given: a long report holding the ledger (creating a partition must wait for it)
      await reader.query("begin");
      await reader.query("select count(*) from ledger_event");
      // when: a call of a month without a partition arrives
      const refused = await rejection(t.client.trackApiCall(call("old-month-1", "2018-05-10T00:00:00Z", "1")));
      // then: a retryable refusal, nothing stored; once the report ends, the retry is stored
      expect(refused?.code).toBe(status.UNAVAILABLE);
      expect(await count(t.database.db, "ledger_request_key")).toBe(0);
      await reader.query("commit");
      expect(await t.client.trackApiCall(call("old-month-1", "2018-05-10T00:00:00Z", "1"))).toMatchObject({ duplicate: false, costUsd: "1" });
      expect(await count(t.database.db, "ledger_event")).toBe(1);
    } finally {
      await reader.end();
      await t.close();
    }
  });
});

describe.runIf(ENGINES.includes("postgres"))("two server processes on one PostgreSQL ledger", () => {
  it("both create the same new month's partition at once, and each event is stored once", async () => {
    const t = await startTestService("postgres");
    const other = await openDatabase({ databaseUrl: t.database.url! });
    try {
      const writers = [new EventWriter(t.database.db), new EventWriter(other.db)];
      // the same request ids through both writers
      const rows = () => Array.from({ length: 500 }, (_, i) => ledgerRow(`both-${i}`, "same", `2019-0${(i % 3) + 1}-15T00:00:00.000000Z`));
      const [a, b] = await Promise.all([writers[0]!.write(rows()), writers[1]!.write(rows())]);
      const inserted = [...a!, ...b!].filter((o) => o.status === "inserted").length;
      const duplicates = [...a!, ...b!].filter((o) => o.status === "duplicate").length;
      expect([inserted, duplicates]).toEqual([500, 500]);
      expect(await count(t.database.db, "ledger_event")).toBe(500);
      expect(await listPartitions(t.database.db)).toEqual(expect.arrayContaining(["2019-01", "2019-02", "2019-03"]));
    } finally {
      await other.close();
      await t.close();
    }
  });
});
