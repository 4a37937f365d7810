import { status } from "@grpc/grpc-js";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  createCostTrackingClient,
  EventStatus,
  TimeWindow,
  type AggregateCostsRequest,
  type CostTrackingClient,
  type CostTrackingError,
  type DeepPartial,
} from "../../client/index.js";
import { foldRollups } from "../../src/aggregation/rollup-folder.js";
import { DEFAULT_CONFIG } from "../../src/config.js";
import { silentLogger } from "../../src/logger.js";
import { Money } from "../../src/money.js";
import { startService, type RunningService } from "../../src/server.js";
import { ENGINES } from "../support/database.js";
import { fixedClock, startTestService, type TestService } from "../support/service.js";

const at = (iso: string) => ({ seconds: String(Math.floor(Date.parse(iso) / 1000)), nanos: (Date.parse(iso) % 1000) * 1_000_000 });

/** A model priced at $1 per million input and output tokens, so 1,000,000 tokens cost exactly $1. */
const DOLLAR_MODEL = "dollar-per-mtok";

describe.each(ENGINES)("AggregateCosts, rollups and time zones on %s", (engine) => {
  let t: TestService;
  /** A second server on the same database with the rollups turned off: every answer from the raw ledger. */
  let raw: RunningService;
  let rawClient: CostTrackingClient;
  const clock = fixedClock("2025-03-20T12:00:00Z");

  beforeAll(async () => {
    // A fold interval of an hour: the test folds when it wants to, so both "folded" and "not yet folded" are seen.
    t = await startTestService(engine, { clock, config: { rollupFoldIntervalMs: 3_600_000 } });
    raw = await startService({
      config: { ...DEFAULT_CONFIG, listenAddress: "127.0.0.1:0", rollupFoldIntervalMs: 0, shutdownGraceSeconds: 2 },
      logger: silentLogger,
      database: t.database,
      clock,
    });
    rawClient = createCostTrackingClient(`127.0.0.1:${raw.port}`, { maxAttempts: 1 });
    await sql`insert into model_price (id, model, provider, effective_from, input_usd_per_mtok, output_usd_per_mtok, source)
              values ('00000000-0000-7000-8000-0000000000d1', ${DOLLAR_MODEL}, 'testco', '1970-01-01T00:00:00Z', 1, 1, 'test')`.execute(
      t.database.db,
    );
  });
  afterAll(async () => {
    rawClient?.close();
    await raw?.close();
    await t?.close();
  });
  beforeEach(async () => {
    // Truncating the ledger empties the rollups and resets their watermark (a trigger), so each test starts clean.
    await sql`truncate ledger_event`.execute(t.database.db);
  });

  /** Records a call costing `dollars` (as tokens of the $1-per-million model). */
  const spend = (iso: string, dollars: string, over: Record<string, unknown> = {}) =>
    t.client.trackApiCall({
      model: DOLLAR_MODEL,
      provider: "testco",
      usage: { inputTokens: new Money(dollars).times(1_000_000).toFixed(0), outputTokens: "0" },
      status: EventStatus.EVENT_STATUS_SUCCEEDED,
      callTime: at(iso),
      ...over,
    });
  const fold = () => foldRollups(t.database.db);

  /** Asks both servers and checks they agree exactly; returns the answer. */
  async function both(request: DeepPartial<AggregateCostsRequest>) {
    const [fromRollups, fromRaw] = await Promise.all([t.client.aggregateCosts(request), rawClient.aggregateCosts(request)]);
    expect(fromRollups).toEqual(fromRaw);
    return fromRollups;
  }

  const day = (zone: string, startIso: string, endIso: string) => ({
    window: TimeWindow.TIME_WINDOW_DAY,
    timeZone: zone,
    filter: { startTime: at(startIso), endTime: at(endIso) },
  });

  it("buckets the issue's calls by day in Asia/Kolkata: Mar 9 $1.00, Mar 10 $6.00, Mar 11 $8.00", async () => {
    await spend("2025-03-09T18:00:00Z", "1.00");
    await spend("2025-03-09T19:00:00Z", "2.00");
    await spend("2025-03-10T12:00:00Z", "4.00");
    await spend("2025-03-10T19:00:00Z", "8.00");
    for (const folded of [false, true]) {
      if (folded) await fold();
      // Local Mar 9 00:00 to Mar 12 00:00 in +05:30.
      const result = await both(day("Asia/Kolkata", "2025-03-08T18:30:00Z", "2025-03-11T18:30:00Z"));
      expect(result.rows.map((r) => [r.label, r.totals?.costUsd])).toEqual([
        ["2025-03-09T00:00:00+05:30", "1"],
        ["2025-03-10T00:00:00+05:30", "6"],
        ["2025-03-11T00:00:00+05:30", "8"],
      ]);
      expect(result.totals).toMatchObject({ costUsd: "15", callCount: "4" });
    }
  });

  it("buckets the issue's calls by day in America/New_York: Mar 8 $0.10, Mar 9 $0.60, Mar 10 $0.80, and Mar 9 has 23 hours", async () => {
    await spend("2025-03-09T04:59:00Z", "0.10");
    await spend("2025-03-09T05:00:00Z", "0.20");
    await spend("2025-03-10T03:59:00Z", "0.40");
    await spend("2025-03-10T04:30:00Z", "0.80");
    for (const folded of [false, true]) {
      if (folded) await fold();
      const days = await both(day("America/New_York", "2025-03-08T05:00:00Z", "2025-03-11T04:00:00Z"));
      expect(days.rows.map((r) => [r.label, r.totals?.costUsd])).toEqual([
        ["2025-03-08T00:00:00-05:00", "0.1"],
        ["2025-03-09T00:00:00-05:00", "0.6"],
        ["2025-03-10T00:00:00-04:00", "0.8"],
      ]);
      const sum = days.rows.reduce((acc, r) => acc.plus(r.totals!.costUsd), new Money(0));
      expect(sum.toFixed()).toBe(days.totals?.costUsd);

      // Every hour of local Mar 9, empty ones included: 00:00 to 23:00 without the skipped 02:00.
      const hours = await both({
        window: TimeWindow.TIME_WINDOW_HOUR,
        timeZone: "America/New_York",
        filter: { startTime: at("2025-03-09T05:00:00Z"), endTime: at("2025-03-10T04:00:00Z") },
      });
      expect(hours.rows).toHaveLength(23);
      expect(hours.rows.map((r) => r.label.slice(11, 19))).not.toContain("02:00:00");
      expect(hours.rows[2]!.label).toBe("2025-03-09T03:00:00-04:00");
      expect(hours.totals?.costUsd).toBe("0.6");
      expect(hours.rows.filter((r) => r.totals?.callCount !== "0").map((r) => [r.label, r.totals?.costUsd])).toEqual([
        ["2025-03-09T00:00:00-05:00", "0.2"],
        ["2025-03-09T23:00:00-04:00", "0.4"],
      ]);
    }
  });

  it("fills the empty days of a bounded range and keeps the sum of the days equal to the range total, in every zone", async () => {
    const times = ["2025-03-01T00:07:00Z", "2025-03-02T23:59:59Z", "2025-03-05T10:15:00Z", "2025-03-09T06:44:00Z", "2025-03-09T23:30:00Z"];
    for (const [i, iso] of times.entries()) await spend(iso, `0.00${i + 1}`);
    await fold();
    await spend("2025-03-03T12:00:00Z", "0.5"); // after the fold: read from the raw rows
    for (const zone of ["UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe", "Pacific/Chatham"]) {
      const start = "2025-02-28T13:00:00.5Z";
      const end = "2025-03-10T07:29:59Z";
      const series = await both({ window: TimeWindow.TIME_WINDOW_DAY, timeZone: zone, filter: { startTime: at(start), endTime: at(end) } });
      const total = await both({ filter: { startTime: at(start), endTime: at(end) } });
      const sum = series.rows.reduce((acc, r) => acc.plus(r.totals!.costUsd), new Money(0));
      expect(sum.toFixed()).toBe(total.totals?.costUsd);
      expect(series.totals).toEqual(total.totals);
      // Consecutive: each bucket ends where the next starts.
      for (let i = 1; i < series.rows.length; i++) expect(series.rows[i]!.startTime).toEqual(series.rows[i - 1]!.endTime);
      expect(series.rows.length).toBeGreaterThanOrEqual(10);
    }
  });

  it("answers every grouping the same from rollups as from raw rows, including late events that arrive after a fold", async () => {
    // given: a deterministic spread of calls over 10 days and every dimension
    const users = ["u1", "u2", "u3"];
    const agents = ["writer", "researcher", ""];
    const models = [
      [DOLLAR_MODEL, "testco"],
      ["gpt-4o-mini", "openai"],
      ["no-price-model", "acme"],
    ] as const;
    const statuses = [EventStatus.EVENT_STATUS_SUCCEEDED, EventStatus.EVENT_STATUS_FAILED, EventStatus.EVENT_STATUS_CANCELLED];
    const record = async (i: number, iso: string) => {
      const [model, provider] = models[i % 3]!;
      await t.client.trackApiCall({
        model,
        provider,
        usage: { inputTokens: String(1000 + ((i * 7919) % 100_000)), outputTokens: String((i * 104_729) % 5000), cacheReadInputTokens: String(i % 500), reasoningOutputTokens: String(i % 3) },
        status: statuses[i % 3]!,
        callTime: at(iso),
        userId: users[i % 3]!,
        agentId: agents[(i >> 1) % 3]!,
        taskId: `task-${i % 11}`,
        operation: ["research", "draft", "refine", ""][i % 4]!,
        agentExecutionId: `exec-${i % 5}`,
      });
    };
    const base = Date.parse("2025-03-05T00:00:00Z");
    for (let i = 0; i < 160; i++) await record(i, new Date(base + ((i * 7_777_777) % (10 * 86_400_000))).toISOString());
    await fold();
    // late events: their times are long before the watermark's newest buckets; they are not folded yet
    for (let i = 160; i < 200; i++) await record(i, new Date(base + ((i * 1_234_567) % (3 * 86_400_000))).toISOString());

    const questions: Array<DeepPartial<AggregateCostsRequest>> = [];
    const ranges = [
      {},
      { startTime: at("2025-03-06T03:07:11.123Z") },
      { endTime: at("2025-03-12T17:52:00Z") },
      { startTime: at("2025-03-05T00:00:00Z"), endTime: at("2025-03-15T00:00:00Z") },
      { startTime: at("2025-03-06T05:29:59Z"), endTime: at("2025-03-06T05:44:01Z") },
      { startTime: at("2025-03-07T10:05:00Z"), endTime: at("2025-03-09T21:50:00Z") },
    ];
    for (const range of ranges) {
      for (const groupBy of [[], ["agent"], ["provider", "model"], ["operation"], ["task"], ["user"], ["status"], ["agent_execution"], ["model", "status"]]) {
        questions.push({ filter: range, groupBy });
      }
      questions.push({ filter: { ...range, status: EventStatus.EVENT_STATUS_FAILED }, groupBy: ["agent"] });
      questions.push({ filter: { ...range, agentId: "writer" }, groupBy: ["status"] });
      questions.push({ filter: { ...range, provider: "openai", model: "gpt-4o-mini" }, groupBy: [] });
      questions.push({ filter: { ...range, taskId: "task-3" }, groupBy: ["status"] });
      questions.push({ filter: { ...range, userId: "u2" }, groupBy: ["model"] });
      for (const zone of ["UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu"]) {
        for (const window of [TimeWindow.TIME_WINDOW_HOUR, TimeWindow.TIME_WINDOW_DAY, TimeWindow.TIME_WINDOW_WEEK, TimeWindow.TIME_WINDOW_MONTH]) {
          questions.push({ filter: range, window, timeZone: zone });
        }
        questions.push({ filter: range, window: TimeWindow.TIME_WINDOW_DAY, timeZone: zone, groupBy: ["agent"] });
      }
    }
    questions.push({ groupBy: ["agent"], limit: 2 });

    // then: before and after folding the late events, rollups and raw rows agree on every question
    for (const step of ["late events not folded", "late events folded"]) {
      if (step === "late events folded") expect(await fold()).toBeGreaterThan(0n);
      for (const question of questions) {
        const answer = await both(question);
        expect(answer.rows.length, step).toBeGreaterThanOrEqual(0);
      }
    }
    const everything = await both({});
    expect(everything.totals?.callCount).toBe("200");
    expect(everything.totals?.unpricedCallCount).toBe("66"); // i % 3 == 2: the model without a price
  });

  it("counts 1,000,000 calls of $0.001 as exactly $1,000.00, from raw rows and from the rollups", async () => {
    // given: a million ledger rows written in one statement
    await sql`
      insert into ledger_event (id, request_id, content_hash, kind, occurred_at, model, provider, input_tokens, cost_usd, status)
      select gen_random_uuid(), 'bulk-' || g, 'h', 'api_call', timestamptz '2025-03-01T00:00:00Z' + (g % 86400) * interval '1 second',
             ${DOLLAR_MODEL}, 'testco', 1000, 0.001, 'succeeded'
      from generate_series(1, 1000000) as g`.execute(t.database.db);
    const range = { startTime: at("2025-03-01T00:00:00Z"), endTime: at("2025-03-02T00:00:00Z") };
    const unfolded = await both({ filter: range });
    expect(unfolded.totals).toMatchObject({ costUsd: "1000", callCount: "1000000", inputTokens: "1000000000" });
    expect(new Money(unfolded.totals!.costUsd).equals("1000.00")).toBe(true);
    await fold();
    const folded = await both({ filter: range, groupBy: ["model"] });
    expect(folded.rows.map((r) => [r.keys, r.totals?.costUsd, r.totals?.callCount])).toEqual([[[DOLLAR_MODEL], "1000", "1000000"]]);
    expect((await both({ filter: range, window: TimeWindow.TIME_WINDOW_DAY })).rows.map((r) => r.totals?.costUsd)).toEqual(["1000"]);
  });

  it("sums three calls of 1,000,000,000 input tokens to exactly 3,000,000,000 in every grouping", async () => {
    for (let i = 0; i < 3; i++) await spend("2025-03-11T00:00:00Z", "1000", { agentId: "big", taskId: "big" });
    await fold();
    for (const groupBy of [[], ["agent"], ["task"], ["model"], ["user"]]) {
      const result = await both({ groupBy });
      expect(result.totals).toMatchObject({ inputTokens: "3000000000", costUsd: "3000", callCount: "3" });
    }
    const byAgent = await t.client.aggregateByAgent({});
    expect(byAgent.agents[0]!.totals?.inputTokens).toBe("3000000000");
  });

  it("answers AggregateByAgent and AggregateByUser with the filter, range words and a limit", async () => {
    await spend("2025-03-20T10:00:00Z", "3", { agentId: "a", userId: "x" });
    await spend("2025-03-20T11:00:00Z", "2", { agentId: "b", userId: "x" });
    await spend("2025-03-19T11:00:00Z", "1", { agentId: "c", userId: "y" });
    await spend("2025-02-19T11:00:00Z", "7", { agentId: "d", userId: "y" });
    await fold();
    const top = await t.client.aggregateByAgent({ period: "month", limit: 2 });
    expect(top.agents.map((a) => [a.key, a.totals?.costUsd])).toEqual([
      ["a", "3"],
      ["b", "2"],
    ]);
    expect(top.totals?.costUsd).toBe("6"); // the month's total, not only the top rows
    const users = await t.client.aggregateByUser({ filter: { agentId: "a" } });
    expect(users.users.map((u) => [u.key, u.totals?.costUsd])).toEqual([["x", "3"]]);
    const today = await t.client.aggregateByUser({ period: "today" });
    expect(today.users.map((u) => [u.key, u.totals?.costUsd])).toEqual([["x", "5"]]);
  });

  it("breaks costs down per provider and per provider x model with shares of the total", async () => {
    await spend("2025-03-20T10:00:00Z", "3");
    await t.client.trackApiCall({ model: "gpt-4o-mini", provider: "openai", usage: { inputTokens: "10000000" }, status: EventStatus.EVENT_STATUS_SUCCEEDED, callTime: at("2025-03-20T10:00:00Z") });
    await t.client.trackApiCall({ model: "mystery", provider: "openai", usage: { inputTokens: "5" }, status: EventStatus.EVENT_STATUS_SUCCEEDED, callTime: at("2025-03-20T10:00:00Z") });
    await fold();
    const breakdown = await t.client.getProviderBreakdown({ period: "last_7d" });
    expect(breakdown.totals).toMatchObject({ costUsd: "4.5", callCount: "3", unpricedCallCount: "1" });
    expect(
      breakdown.providers.map((p) => [p.provider, p.totals?.costUsd, p.percentOfTotal, p.models.map((m) => [m.key, m.percentOfTotal])]),
    ).toEqual([
      ["testco", "3", "66.67", [[DOLLAR_MODEL, "66.67"]]],
      ["openai", "1.5", "33.33", [["gpt-4o-mini", "33.33"], ["mystery", "0"]]],
    ]);
  });

  it.each([
    [{ groupBy: ["agent", "colour"] }, "group_by[1]", "colour"],
    [{ groupBy: ["model", "model"] }, "group_by[1]", "model"],
    [{ filter: { startTime: at("2025-03-02T00:00:00Z"), endTime: at("2025-03-01T00:00:00Z") } }, "filter.end_time", "after"],
    [{ timeZone: "Mars/Olympus_Mons", window: TimeWindow.TIME_WINDOW_DAY }, "time_zone", "Mars/Olympus_Mons"],
    [{ period: "fortnight" }, "period", "fortnight"],
    [{ limit: -1 }, "limit", "-1"],
    [{ window: TimeWindow.TIME_WINDOW_HOUR, filter: { startTime: at("2000-01-01T00:00:00Z"), endTime: at("2025-01-01T00:00:00Z") } }, "window", "50000"],
  ] as const)("refuses AggregateCosts %j with INVALID_ARGUMENT naming %s", async (request, field, mentioned) => {
    const error = (await t.client.aggregateCosts(request as never).catch((e: unknown) => e)) as CostTrackingError;
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.fieldViolations.map((v) => v.field)).toEqual([field]);
    expect(error.fieldViolations[0]!.description.replace(/,/g, "")).toContain(mentioned);
  });

  it("rebuilds the rollups when ledger rows are ever changed or deleted, and answers stay exact meanwhile", async () => {
    await spend("2025-03-10T00:00:00Z", "1", { agentId: "a" });
    await spend("2025-03-10T00:30:00Z", "2", { agentId: "b" });
    await fold();
    await sql`update ledger_event set cost_usd = 5 where agent_id = 'a'`.execute(t.database.db);
    expect((await both({ groupBy: ["agent"] })).rows.map((r) => [r.keys[0], r.totals?.costUsd])).toEqual([
      ["a", "5"],
      ["b", "2"],
    ]);
    await fold();
    await sql`delete from ledger_event where agent_id = 'b'`.execute(t.database.db);
    expect((await both({ groupBy: ["agent"] })).totals?.costUsd).toBe("5");
    // A statement that changes nothing leaves the rollups alone.
    await fold();
    await sql`update ledger_event set cost_usd = 9 where agent_id = 'nobody'`.execute(t.database.db);
    const { rows } = await sql<{ seq: string }>`select folded_through_seq as seq from rollup_watermark`.execute(t.database.db);
    expect(rows[0]!.seq).not.toBe("0");
  });

  it.runIf(engine === "postgres")("never loses a row that an open transaction commits while a fold runs", async () => {
    // given: a transaction holding an uncommitted call, then a later call committed by another
    await spend("2025-03-10T00:00:00Z", "1");
    await fold();
    const slow = new pg.Client({ connectionString: t.database.url });
    await slow.connect();
    try {
      await slow.query("begin");
      await slow.query(
        `insert into ledger_event (id, request_id, content_hash, kind, occurred_at, model, provider, cost_usd, status)
         values (gen_random_uuid(), 'slow-1', 'h', 'api_call', '2025-03-10T00:00:00Z', $1, 'testco', 2, 'succeeded')`,
        [DOLLAR_MODEL],
      );
      await spend("2025-03-10T00:00:01Z", "4"); // committed, with a higher seq than the open row
      // when: a fold starts while the first row is still uncommitted, and the row commits afterwards
      const folding = fold();
      await new Promise((r) => setTimeout(r, 200));
      await slow.query("commit");
      await folding;
    } finally {
      await slow.end();
    }
    // then: every row is counted once, whether the fold took it or left it to the raw tail
    expect((await both({})).totals?.costUsd).toBe("7");
    await fold();
    expect((await both({ groupBy: ["agent"] })).totals?.costUsd).toBe("7");
  });
});
