import { status } from "@grpc/grpc-js";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createCostTrackingClient,
  CostTrackingError,
  EventStatus,
  type DeepPartial,
  type EventRecord,
  type TrackApiCallRequest,
} from "../../client/index.js";
import { DEFAULT_CONFIG } from "../../src/config.js";
import { openDatabase } from "../../src/db/database.js";
import { silentLogger } from "../../src/logger.js";
import { Money } from "../../src/money.js";
import { startService } from "../../src/server.js";
import { ENGINES } from "../support/database.js";
import { startLossyProxy } from "../support/lossy-proxy.js";
import { fixedClock, startTestService, type TestService } from "../support/service.js";

const BASE_SECONDS = Date.parse("2025-03-01T00:00:00Z") / 1000;

describe.each(ENGINES)("every call counted exactly once on %s", (engine) => {
  let t: TestService;
  const clock = fixedClock("2025-03-10T00:00:00Z");
  const countRows = async (where = sql`true`) =>
    Number((await sql<{ n: string }>`select count(*) as n from ledger_event where ${where}`.execute(t.database.db)).rows[0]!.n);
  const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (e: unknown) => e as CostTrackingError);

  beforeAll(async () => {
    t = await startTestService(engine, { clock });
    // A flat test price that makes a $0.01 call easy to read: $1 input and $2 output per million tokens.
    await sql`insert into model_price (id, model, provider, effective_from, input_usd_per_mtok, output_usd_per_mtok, source)
      values ('00000000-0000-7000-8000-00000000f1a7', 'flat-test-model', 'test', '2020-01-01T00:00:00Z', 1, 2, 'test')`.execute(
      t.database.db,
    );
    // (a server that caches the catalog sees rows written behind its back within its staleness bound)
    const priced = () => t.client.calculateCost({ model: "flat-test-model", provider: "test", usage: { inputTokens: "1" } });
    for (let waited = 0; (await priced()).unpriced && waited < 10_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
  });
  afterAll(() => t?.close());

  it("stores a call sent three times (reply lost, then timed out, then answered) once: one row, $0.01 once", async () => {
    // given: 6,000 input and 2,000 output tokens at $1 / $2 per million cost $0.01
    const request: DeepPartial<TrackApiCallRequest> = {
      requestId: "retry-cent-1",
      taskId: "task-cent",
      model: "flat-test-model",
      provider: "test",
      usage: { inputTokens: "6000", outputTokens: "2000" },
      status: EventStatus.EVENT_STATUS_SUCCEEDED,
      callTime: { seconds: String(BASE_SECONDS), nanos: 0 },
    };

    // when the first reply is lost on the way back: the server stores the call, the caller sees a timeout
    const proxy = await startLossyProxy({ host: "127.0.0.1", port: t.service.port });
    const lossy = createCostTrackingClient(proxy.address, { maxAttempts: 1, deadlineMs: 1_500 });
    try {
      await lossy.calculateCost({ model: "gpt-4o-mini", usage: { inputTokens: "1" } }); // connect first
      proxy.dropReplies = true;
      expect((await failure(lossy.trackApiCall(request)))?.code).toBe(status.DEADLINE_EXCEEDED);
    } finally {
      lossy.close();
      await proxy.close();
    }
    await expect.poll(() => countRows(sql`request_id = 'retry-cent-1'`)).toBe(1);

    // and the retry times out too, because the ledger is busy (held by a transaction) until after its deadline
    const impatient = createCostTrackingClient(t.address, { maxAttempts: 1, deadlineMs: 300 });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = t.database.db.transaction().execute(async (trx) => {
      await sql`lock table ledger_event in exclusive mode`.execute(trx);
      locked();
      await held;
    });
    await isLocked;
    try {
      expect((await failure(impatient.trackApiCall(request)))?.code).toBe(status.DEADLINE_EXCEEDED);
    } finally {
      release();
      await holder;
      impatient.close();
    }

    // then the third attempt is answered with the original event, and the call counts once
    const third = await t.client.trackApiCall(request);
    const row = await t.database.db.selectFrom("ledger_event").select(["id", "cost_usd"]).where("request_id", "=", "retry-cent-1").executeTakeFirstOrThrow();
    expect(third).toMatchObject({ duplicate: true, eventId: row.id, costUsd: "0.01" });
    expect(await countRows(sql`request_id = 'retry-cent-1'`)).toBe(1);
    const task = await t.client.aggregateByTask({ taskId: "task-cent" });
    expect(task.totals).toMatchObject({ costUsd: "0.01", callCount: "1" });
  });

  it("groups concurrent unary calls into shared writes and still answers each one exactly", async () => {
    // given: 200 concurrent calls; ids 0-99 are sent twice with equal content, "clash" twice with different content
    const call = (id: string, inputTokens = "1000") =>
      t.client.trackApiCall({
        requestId: id,
        taskId: "task-concurrent",
        model: "gpt-4o-mini",
        usage: { inputTokens, outputTokens: "0" },
        status: EventStatus.EVENT_STATUS_SUCCEEDED,
        callTime: { seconds: String(BASE_SECONDS), nanos: 0 },
      });
    const ids = Array.from({ length: 100 }, (_, i) => `concurrent-${i}`);
    // when
    const [results, clash] = await Promise.all([
      Promise.all([...ids, ...ids].map((id) => call(id))),
      Promise.allSettled([call("clash", "1"), call("clash", "2")]),
    ]);
    // then every id is stored once, and both senders of an id got the same event
    expect(results.filter((r) => !r.duplicate)).toHaveLength(100);
    for (let i = 0; i < 100; i++) expect(results[i]!.eventId).toBe(results[i + 100]!.eventId);
    expect(clash.map((c) => c.status).sort()).toEqual(["fulfilled", "rejected"]);
    const refused = clash.find((c) => c.status === "rejected") as PromiseRejectedResult;
    expect(refused.reason).toMatchObject({ code: status.INVALID_ARGUMENT, reason: "REQUEST_ID_REUSED" });
    expect(await countRows(sql`task_id = 'task-concurrent'`)).toBe(101);
  });

  it("stores 100,000 streamed events once when two clients replay them all at the same time", async () => {
    // given: 100,000 calls with varied usage, and their costs computed here from the price
    const total = 100_000;
    const usageOf = (i: number) => {
      const input = 1 + ((i * 7_919) % 60_000);
      const cacheRead = i % 3 === 0 ? Math.floor(input / 3) : 0;
      const output = (i * 104_729) % 5_000;
      return { input, cacheRead, output };
    };
    function* events(): Generator<DeepPartial<EventRecord>> {
      for (let i = 0; i < total; i++) {
        const { input, cacheRead, output } = usageOf(i);
        yield {
          apiCall: {
            requestId: `bulk-${i}`,
            taskId: "task-100k",
            model: "gpt-4o-mini",
            provider: "openai",
            usage: { inputTokens: String(input), cacheReadInputTokens: String(cacheRead), outputTokens: String(output) },
            status: EventStatus.EVENT_STATUS_SUCCEEDED,
            callTime: { seconds: String(BASE_SECONDS + Math.floor(i / 10)), nanos: (i % 10) * 1_000 },
          },
        };
      }
    }
    // gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output per million tokens
    let expected = new Money(0);
    for (let i = 0; i < total; i++) {
      const { input, cacheRead, output } = usageOf(i);
      expected = expected.plus(
        new Money(input - cacheRead).times("0.15").plus(new Money(cacheRead).times("0.075")).plus(new Money(output).times("0.6")).dividedBy(1_000_000),
      );
    }

    // when streamed once, then replayed by two clients concurrently
    const first = await t.client.ingestEvents(events(), { eventsPerMessage: 250 });
    const other = createCostTrackingClient(t.address, { maxAttempts: 1 });
    const replays = await Promise.all([
      t.client.ingestEvents(events(), { eventsPerMessage: 250 }),
      other.ingestEvents(events(), { eventsPerMessage: 250 }),
    ]).finally(() => other.close());

    // then
    expect(first.summary).toMatchObject({ acceptedCount: "100000", duplicateCount: "0", rejectedCount: "0" });
    for (const replay of replays) {
      expect(replay.summary).toMatchObject({ acceptedCount: "0", duplicateCount: "100000", rejectedCount: "0" });
    }
    expect(await countRows(sql`task_id = 'task-100k'`)).toBe(total);
    const task = await t.client.aggregateByTask({ taskId: "task-100k" });
    expect(task.totals?.callCount).toBe("100000");
    expect(task.totals?.costUsd).toBe(expected.toFixed());
    const stored = await sql<{ s: string }>`select sum(cost_usd)::text as s from ledger_event where task_id = 'task-100k'`.execute(t.database.db);
    expect(new Money(stored.rows[0]!.s).equals(expected)).toBe(true);
  });

  it("stores overlapping events streamed to two server replicas at the same moment once", async () => {
    // given: a second server on the same ledger (on PostgreSQL with its own connections), and two clients that
    // race to send the same 5,000 new events to the two replicas, in opposite orders
    const make = (i: number): DeepPartial<EventRecord> => ({
      apiCall: {
        requestId: `race-${i}`,
        taskId: "task-race",
        model: "gpt-4o-mini",
        usage: { inputTokens: String(100 + i), outputTokens: "10" },
        status: EventStatus.EVENT_STATUS_SUCCEEDED,
        callTime: { seconds: String(BASE_SECONDS), nanos: 0 },
      },
    });
    const forward = Array.from({ length: 5_000 }, (_, i) => make(i));
    const replicaDatabase = t.database.url ? await openDatabase({ databaseUrl: t.database.url }) : t.database;
    const replica = await startService({
      config: { ...DEFAULT_CONFIG, listenAddress: "127.0.0.1:0", shutdownGraceSeconds: 2 },
      logger: silentLogger,
      database: replicaDatabase,
      clock,
    });
    const other = createCostTrackingClient(`127.0.0.1:${replica.port}`, { maxAttempts: 1 });
    // when
    const [a, b] = await Promise.all([
      t.client.ingestEvents(forward, { eventsPerMessage: 50 }),
      other.ingestEvents([...forward].reverse(), { eventsPerMessage: 50 }),
    ]).finally(async () => {
      other.close();
      await replica.close();
      if (replicaDatabase !== t.database) await replicaDatabase.close();
    });
    // then
    expect(Number(a.summary!.acceptedCount) + Number(b.summary!.acceptedCount)).toBe(5_000);
    expect(Number(a.summary!.duplicateCount) + Number(b.summary!.duplicateCount)).toBe(5_000);
    expect(a.summary!.rejectedCount).toBe("0");
    expect(b.summary!.rejectedCount).toBe("0");
    expect(await countRows(sql`task_id = 'task-race'`)).toBe(5_000);
  });
});
