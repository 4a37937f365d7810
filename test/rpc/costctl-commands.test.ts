import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BudgetScopeKind, CostTrackingError, EventStatus } from "../../client/index.js";
import { ENGINES } from "../support/database.js";
import { adminQuery, databaseUrl } from "../support/postgres-admin.js";
import { startTestService, type TestService } from "../support/service.js";

const exec = promisify(execFile);
const TASK = "6f1c1b9e-3a57-4a59-9b0e-0c4c1f3f8a10";
const USER = "0b5e0c6a-8d3e-4a9b-bb1a-2f3f0e0a9c11";

describe.each(ENGINES)("recorded_cost_usd on %s", (engine) => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService(engine);
  });
  afterAll(() => t?.close());

  it("stores the caller's billed cost exactly, with no price reference and the marker, instead of the catalog price", async () => {
    const call = {
      requestId: "rec-1",
      model: "gpt-4o-mini",
      provider: "openai",
      usage: { inputTokens: "1000", outputTokens: "500" },
      status: EventStatus.EVENT_STATUS_SUCCEEDED,
      callTime: { seconds: "1741543200", nanos: 123_456_000 },
      recordedCostUsd: "0.000150",
    };
    const response = await t.client.trackApiCall(call);
    expect(response).toMatchObject({ duplicate: false, costUsd: "0.00015", unpriced: false });
    expect(response.price).toBeUndefined();
    expect(await t.client.trackApiCall(call)).toMatchObject({ duplicate: true, costUsd: "0.00015" });
    const row = await t.database.db.selectFrom("ledger_event").selectAll().where("request_id", "=", "rec-1").executeTakeFirstOrThrow();
    expect(row).toMatchObject({ price_id: null, cost_source: "recorded" });
    expect(String(row.cost_usd)).toMatch(/^0\.000150*$/);
    const priced = await t.client.trackApiCall({ ...call, requestId: "rec-2", recordedCostUsd: "" });
    expect(priced.costUsd).toBe("0.00045");
    const pricedRow = await t.database.db.selectFrom("ledger_event").selectAll().where("request_id", "=", "rec-2").executeTakeFirstOrThrow();
    expect(pricedRow.cost_source).toBeNull();
  });

  it("refuses a recorded cost that is not a non-negative decimal string, naming the field", async () => {
    for (const bad of ["-1", "1e-3", "0.1.2", "abc"]) {
      const error = await t.client
        .trackApiCall({ model: "gpt-4o-mini", usage: { inputTokens: "1" }, status: EventStatus.EVENT_STATUS_SUCCEEDED, recordedCostUsd: bad })
        .then(() => undefined, (e: unknown) => e as CostTrackingError);
      expect(error?.fieldViolations.map((v) => v.field)).toEqual(["recorded_cost_usd"]);
    }
    const n = await sql<{ n: string }>`select count(*) as n from ledger_event where request_id not like 'rec-%'`.execute(t.database.db);
    expect(n.rows[0]!.n).toBe("0");
  });

  it("ExportEvents streams a filter's events in time order across pages, ties broken by id", async () => {
    const at = (seconds: number, nanos = 0) => ({ seconds: String(seconds), nanos });
    const base = { model: "gpt-4o-mini", provider: "openai", taskId: "exp", usage: { inputTokens: "10", outputTokens: "1" }, status: EventStatus.EVENT_STATUS_SUCCEEDED };
    await t.client.trackEvents({
      events: [
        { apiCall: { ...base, requestId: "e-3", callTime: at(1741543300) } },
        { apiCall: { ...base, requestId: "e-1", callTime: at(1741543200, 1000) } },
        { apiCall: { ...base, requestId: "e-2a", callTime: at(1741543250) } },
        { apiCall: { ...base, requestId: "e-2b", callTime: at(1741543250) } },
        { apiCall: { ...base, requestId: "e-2c", callTime: at(1741543250) } },
        { apiCall: { ...base, requestId: "other", taskId: "not-exported", callTime: at(1741543250) } },
        { agentExecution: { requestId: "e-4", agentId: "writer", taskId: "exp", startTime: at(1741543400), status: EventStatus.EVENT_STATUS_FAILED, errorMessage: "boom" } },
      ],
    });
    const exported = [];
    for await (const event of t.client.exportEvents({ filter: { taskId: "exp" }, pageSize: 2 })) exported.push(event);
    expect(exported.map((e) => e.requestId.slice(0, 3))).toEqual(["e-1", "e-2", "e-2", "e-2", "e-3", "e-4"]);
    const ties = exported.slice(1, 4).map((e) => e.eventId);
    expect(ties).toEqual([...ties].sort());
    expect(new Set(exported.map((e) => e.eventId)).size).toBe(6);
    expect(exported[0]).toMatchObject({ kind: "api_call", costUsd: "0.0000021", costSource: "catalog", occurredTime: { seconds: "1741543200", nanos: 1000 } });
    expect(exported[5]).toMatchObject({ kind: "agent_execution", agentId: "writer", errorMessage: "boom", status: EventStatus.EVENT_STATUS_FAILED });
    expect(exported[5]!.costUsd).toBeUndefined();
    const bad = await (async () => {
      try {
        for await (const _ of t.client.exportEvents({ pageSize: 10_001 })) void _;
      } catch (error) {
        return error as CostTrackingError;
      }
    })();
    expect(bad?.fieldViolations.map((v) => v.field)).toEqual(["page_size"]);
  });
});

describe("costctl commands against a real server", () => {
  let t: TestService;
  let dir: string;
  const costctl = (...args: string[]) => exec("node", ["bin/costctl.mjs", ...args, "--server", t.address]);
  const json = async (...args: string[]) => JSON.parse((await costctl(...args, "--json")).stdout);

  beforeAll(async () => {
    t = await startTestService("pglite");
    dir = mkdtempSync(join(tmpdir(), "costctl-"));
  });
  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe("import legacy", () => {
    const name = `legacy_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
    const url = databaseUrl(name);
    beforeAll(async () => {
      await adminQuery(`create database ${name}`);
      const source = new pg.Client({ connectionString: url });
      await source.connect();
      try {
        // The old service's table, as its migration 002a created it.
        await source.query(`
          create table cost_logs (
            id serial primary key, task_id uuid not null, user_id uuid, phase varchar(50) not null,
            model varchar(100) not null, provider varchar(50) not null,
            input_tokens int default 0, output_tokens int default 0, total_tokens int default 0,
            cost_usd decimal(10,6), quality_score float, duration_ms int, success boolean default true,
            error_message text, created_at timestamptz default current_timestamp, updated_at timestamptz default current_timestamp)`);
        await source.query(`
          insert into cost_logs (task_id, user_id, phase, model, provider, input_tokens, output_tokens, total_tokens,
                                 cost_usd, quality_score, duration_ms, success, error_message, created_at) values
            ('${TASK}', '${USER}', 'research', 'gpt-4o-mini', 'openai', 1000, 500, 1500, 0.000150, 4.5, 1200, true, null, '2025-11-16 18:15:46.680123+00'),
            ('${TASK}', null, 'outline', 'claude-3-haiku', 'anthropic', 0, 0, 0, 0.1, null, 900, true, null, '2025-11-16 18:16:00.000001+00'),
            ('${TASK}', null, 'draft', 'gpt-4', 'openai', 2000, 100, 9999, 0.123456, 3, 3000, false, 'rate limited', '2025-11-16 19:00:00+02'),
            ('${TASK}', '${USER}', 'assess', 'ollama', 'ollama', 10, 20, 30, null, null, null, true, null, '2025-11-16 18:20:00.5+00'),
            ('${TASK}', null, 'refine', 'gpt-4o-mini', 'openai', -5, 10, 5, 0.000001, null, 10, true, null, '2025-11-16 18:21:00+00')`);
      } finally {
        await source.end();
      }
    });
    afterAll(async () => {
      await adminQuery(`drop database if exists ${name} with (force)`);
    });

    it("keeps money, times, users and failures exactly, reports rejections, and adds nothing the second time", async () => {
      const checkpoint = join(dir, "legacy.checkpoint");
      const first = await json("import", "legacy", "--database-url", url, "--checkpoint", checkpoint, "--page-size", "2");
      expect(first).toMatchObject({
        read: 5,
        stored: 4,
        duplicates: 0,
        rejected: 1,
        recordedCostRows: 4,
        catalogPricedRows: 1,
        totalTokenMismatches: 1,
        legacyCostUsd: "0.223607",
      });
      expect(first.rejections).toEqual([{ legacyId: "5", reason: expect.stringContaining("usage.input_tokens") }]);
      expect(JSON.parse(readFileSync(checkpoint, "utf8"))).toEqual({ source: `${new URL(url).host}/${name}`, table: "cost_logs", lastId: "5" });

      const rows = await t.database.db
        .selectFrom("ledger_event")
        .select(["request_id", "operation", "user_id", "task_id", "status", "error_message", "input_tokens", "output_tokens", "total_tokens", "duration_ms", "cost_source", "price_id"])
        .select(sql<string>`cost_usd::text`.as("cost"))
        .select(sql<string>`to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')`.as("at"))
        .where("request_id", "like", "legacy:%")
        .orderBy("request_id")
        .execute();
      expect(rows.map((r) => [r.request_id, r.operation, r.user_id, r.status, r.cost, r.at, r.cost_source])).toEqual([
        ["legacy:cost_logs:1", "research", USER, "succeeded", expect.stringMatching(/^0\.00015(0*)$/), "2025-11-16T18:15:46.680123", "recorded"],
        ["legacy:cost_logs:2", "outline", null, "succeeded", expect.stringMatching(/^0\.1(0*)$/), "2025-11-16T18:16:00.000001", "recorded"],
        ["legacy:cost_logs:3", "draft", null, "failed", expect.stringMatching(/^0\.123456(0*)$/), "2025-11-16T17:00:00.000000", "recorded"],
        // A NULL legacy cost is priced from the catalog (local ollama models are free there).
        ["legacy:cost_logs:4", "assess", USER, "succeeded", "0", "2025-11-16T18:20:00.500000", null],
      ]);
      expect(rows[2]).toMatchObject({ task_id: TASK, error_message: "rate limited", input_tokens: "2000", output_tokens: "100", total_tokens: "2100", duration_ms: "3000", price_id: null });

      const stats = await json("stats", "--period", "all", "--task", TASK);
      expect(stats.totals).toMatchObject({ callCount: "4", costUsd: "0.223606", unpricedCallCount: "0" });

      // Resuming from the checkpoint reads nothing; starting over stores nothing new.
      expect(await json("import", "legacy", "--database-url", url, "--checkpoint", checkpoint)).toMatchObject({ read: 0, resumedAfterId: "5" });
      const again = await json("import", "legacy", "--database-url", url);
      expect(again).toMatchObject({ read: 5, stored: 0, duplicates: 4, rejected: 1 });
      const table = (await costctl("import", "legacy", "--database-url", url)).stdout;
      expect(table).toContain("read 5, stored 0, duplicates 4, rejected 1");
      expect(table).toMatch(/rejected legacy id 5: INVALID_FIELD: api_call.usage.input_tokens: must not be negative/);
    });
  });

  it("exports CSV and JSON Lines, and JSON Lines round-trip into another ledger with equal totals", async () => {
    await t.client.trackEvents({
      events: [
        { apiCall: { requestId: "x-1", model: "gpt-4o-mini", provider: "openai", taskId: "round", operation: "draft, final", usage: { inputTokens: "1000", cacheReadInputTokens: "200", outputTokens: "50" }, callTime: { seconds: "1741543200", nanos: 5000 }, status: EventStatus.EVENT_STATUS_SUCCEEDED } },
        { apiCall: { requestId: "x-2", model: "gpt-4o", provider: "openai", taskId: "round", usage: { inputTokens: "10", outputTokens: "5" }, callTime: { seconds: "1741543201", nanos: 0 }, status: EventStatus.EVENT_STATUS_FAILED, errorMessage: 'said "no"' } },
        { agentExecution: { requestId: "x-3", agentExecutionId: "run-1", agentId: "writer", taskId: "round", startTime: { seconds: "1741543100", nanos: 0 }, durationMs: "5000", status: EventStatus.EVENT_STATUS_SUCCEEDED } },
      ],
    });
    const file = join(dir, "events.jsonl");
    await costctl("export", "--format", "jsonl", "--output", file);
    const lines = readFileSync(file, "utf8").trim().split("\n");
    expect(lines).toHaveLength(7); // 4 legacy + 3
    expect(lines.map((l) => JSON.parse(l).requestId)).toEqual(["x-3", "x-1", "x-2", ...[3, 1, 2, 4].map((id) => `legacy:cost_logs:${id}`)]);
    expect(JSON.parse(lines[4]!)).toMatchObject({ costUsd: "0.00015", costSource: "recorded", occurredTime: "2025-11-16T18:15:46.680123Z" });

    const csv = (await costctl("export", "--format", "csv", "--task", "round")).stdout.trim().split("\n");
    expect(csv[0]).toMatch(/^event_id,request_id,kind,occurred_at,/);
    expect(csv).toHaveLength(4);
    expect(csv[1]).toContain(",agent_execution,2025-03-09T17:58:20.000000Z,");
    expect(csv[2]).toContain(',"draft, final",gpt-4o-mini,openai,,1000,200,0,50,0,0.000165,');
    expect(csv[3]).toContain(',failed,"said ""no"""');

    // Into the same ledger: every event is a duplicate.
    expect(await json("import", "jsonl", file)).toMatchObject({ read: 7, stored: 0, duplicates: 7, rejected: 0 });

    // Into another ledger: stored once, equal totals, and a second import adds nothing.
    const other = await startTestService("pglite");
    try {
      const into = (...args: string[]) => exec("node", ["bin/costctl.mjs", ...args, "--server", other.address, "--json"]).then((r) => JSON.parse(r.stdout));
      expect(await into("import", "jsonl", file)).toMatchObject({ read: 7, stored: 7, duplicates: 0, rejected: 0 });
      expect(await into("import", "jsonl", file)).toMatchObject({ read: 7, stored: 0, duplicates: 7 });
      const [mine, theirs] = await Promise.all([json("stats", "--period", "all"), into("stats", "--period", "all")]);
      expect(theirs.totals).toEqual(mine.totals);
      expect(theirs.agentExecutionCount).toBe(mine.agentExecutionCount);
      const again = join(dir, "again.jsonl");
      await exec("node", ["bin/costctl.mjs", "export", "--format", "jsonl", "--output", again, "--server", other.address]);
      const strip = (text: string) => text.trim().split("\n").map((l) => { const { eventId: _e, recordedTime: _r, priceId: _p, ...rest } = JSON.parse(l); return rest; });
      expect(strip(readFileSync(again, "utf8"))).toEqual(strip(readFileSync(file, "utf8")));
    } finally {
      await other.close();
    }
  });

  it("aggregates by dimensions, and keeps --window and --task working", async () => {
    const byModel = await json("aggregate", "--by", "model,status", "--task", "round", "--period", "all");
    // gpt-4o has no price in the test catalog in March 2025: counted as unpriced.
    expect(byModel.rows.map((r: { keys: string[]; totals: { costUsd: string; unpricedCallCount: string } }) => [...r.keys, r.totals.costUsd, r.totals.unpricedCallCount])).toEqual([
      ["gpt-4o-mini", "succeeded", "0.000165", "0"],
      ["gpt-4o", "failed", "0", "1"],
    ]);
    const text = (await costctl("aggregate", "--by", "operation", "--task", "round", "--period", "all")).stdout;
    expect(text).toMatch(/^operation\s+calls/);
    expect(text).toMatch(/draft, final\s+1\s+1,000\s+50\s+\$0\.000165/);
    expect(text).toMatch(/total\s+2\s+1,010\s+55\s+\$0\.000165\s+1/);
    const windowed = await json("aggregate", "--by", "model", "--window", "day", "--task", "round", "--period", "all");
    expect(windowed.rows[0]).toMatchObject({ label: expect.stringMatching(/^2025-03-09/), keys: ["gpt-4o-mini"] });
    expect((await json("aggregate", "--window", "day", "--task", "round")).totals.costUsd).toBe("0.000165");
    expect((await json("aggregate", "--task", "round")).totals.costUsd).toBe("0.000165");
  });

  it("sets, lists and imports prices through the server", async () => {
    const set = (...extra: string[]) => costctl("prices", "set", "--model", "acme-1", "--provider", "acme", "--input", "0.002", "--output", "0.004", "--unit", "thousand", "--effective", "2025-01-01T00:00:00Z", ...extra);
    expect((await set()).stdout).toMatch(/^added: acme\/acme-1 from 2025-01-01T00:00:00.000000Z: input \$2, output \$4 per million tokens/);
    expect((await set()).stdout).toMatch(/^unchanged/);
    const listed = await json("prices", "list", "--model", "acme-1");
    expect(listed.modelPrices).toHaveLength(1);
    expect(listed.modelPrices[0].ratesUsdPerMillionTokens).toMatchObject({ input: "2", output: "4" });
    const all = await json("prices", "list");
    expect(all.modelPrices.length).toBeGreaterThan(listed.modelPrices.length); // the seeded catalog too
    expect((await costctl("prices", "list", "--provider", "acme")).stdout).toMatch(/acme-1\s+acme\s+2025-01-01T00:00:00Z\s+2\s+-\s+-\s+4/);

    const file = join(dir, "litellm.json");
    writeFileSync(file, JSON.stringify({
      sample_spec: { mode: "chat" },
      "acme-2": { litellm_provider: "acme", mode: "chat", input_cost_per_token: 1.5e-7, output_cost_per_token: 6e-7 },
      "acme-embed": { litellm_provider: "acme", mode: "embedding", input_cost_per_token: 2e-8 },
      "acme-image": { litellm_provider: "acme", mode: "image_generation", output_cost_per_image: 0.04 },
    }));
    const imported = await json("prices", "import", file, "--effective", "2025-01-01T00:00:00Z");
    expect(imported).toMatchObject({ added: 2, unchanged: 0 });
    expect(imported.skipped.map((s: { key: string }) => s.key)).toEqual(["sample_spec", "acme-image"]);
    expect((await json("prices", "import", file, "--effective", "2025-01-01T00:00:00Z"))).toMatchObject({ added: 0, unchanged: 2 });
    const acme2 = await json("prices", "list", "--model", "acme-2");
    expect(acme2.modelPrices[0].ratesUsdPerMillionTokens).toMatchObject({ input: "0.15", output: "0.6" });
    const estimate = (await costctl("estimate", "--model", "acme-2", "--input-tokens", "1000000")).stdout;
    expect(estimate).toContain("total $0.15");
  });

  it("shows the summary and manages budgets", async () => {
    const summary = await json("summary", "--period", "month");
    expect(summary).toHaveProperty("totals");
    expect(summary.period).toBe("month");
    expect((await costctl("summary")).stdout).toMatch(/^today \$[\d.]+\s+week/);

    expect((await costctl("budget", "set", "--user", "u-1", "--limit", "100.50")).stdout).toBe("budget of user u-1 set to $100.50 a month\n");
    const listed = await json("budget", "list");
    expect(listed.budgets).toContainEqual(expect.objectContaining({ scope: { kind: BudgetScopeKind.BUDGET_SCOPE_KIND_USER, id: "u-1" }, monthlyLimitUsd: "100.5" }));
    const status = await json("budget", "status", "--user", "u-1");
    expect(status).toMatchObject({ defaultBudget: false, spentUsd: "0", budget: { monthlyLimitUsd: "100.5" } });
    expect((await costctl("budget", "--user", "u-1")).stdout).toMatch(/budget\s+user u-1: \$100\.5 a month/);
    expect((await json("budget", "delete", "--user", "u-1")).deleted).toBe(true);
    expect((await costctl("budget", "delete", "--user", "u-1")).stdout).toBe("user u-1 had no budget\n");
  });

  it("has --help on every new command, and one-line usage errors", async () => {
    for (const command of ["summary", "budget", "prices", "export", "import", "aggregate"]) {
      const { stdout } = await costctl(command, "--help");
      expect(stdout).toMatch(new RegExp(`^usage: costctl ${command}`));
    }
    const failing = (...args: string[]) => costctl(...args).then(() => ({ code: 0, stderr: "" }), (e: { code: number; stderr: string }) => e);
    expect(await failing("export", "--format", "xml")).toMatchObject({ code: 2, stderr: "costctl: --format must be csv or jsonl\n" });
    expect(await failing("prices", "set", "--model", "m", "--provider", "p", "--input", "1", "--output", "1", "--unit", "byte")).toMatchObject({ code: 2 });
    expect((await failing("aggregate", "--by", "colour", "--period", "all")).stderr).toMatch(/^costctl: INVALID_ARGUMENT .*group_by/);
    expect((await failing("import", "legacy", "--database-url", "postgres://postgres@127.0.0.1:5432/no_such_database_here")).stderr).toMatch(/^costctl: .*no_such_database_here/);
  });
});
