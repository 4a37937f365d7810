import { makeGenericClientConstructor, credentials, status, type ClientReadableStream } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { describe, expect, it } from "vitest";
import { createCostTrackingClient, EventStatus, type CostTrackingError } from "../../client/index.js";
import { DEFAULT_CONFIG } from "../../src/config.js";
import { silentLogger } from "../../src/logger.js";
import { SERVICE_NAME, startService } from "../../src/server.js";
import { openDatabase } from "../../src/db/database.js";
import { createTestDatabase, ENGINES, type TestDatabase } from "../support/database.js";

const HealthClient = makeGenericClientConstructor(healthService, "grpc.health.v1.Health");

describe.each(ENGINES)("SIGTERM's graceful shutdown on %s", (engine) => {
  it("reports NOT_SERVING first, finishes in-flight calls, refuses new ones, and closes the database", async () => {
    // given a server that owns its database, a health watcher, and 50 calls in flight
    const database = await createTestDatabase(engine);
    const service = await startService({
      config: { ...DEFAULT_CONFIG, listenAddress: "127.0.0.1:0", databaseUrl: database.url, dataDir: "", shutdownGraceSeconds: 10 },
      logger: silentLogger,
      ...(engine === "pglite" ? { database } : {}),
    });
    const address = `127.0.0.1:${service.port}`;
    const health = new HealthClient(address, credentials.createInsecure());
    const statuses: string[] = [];
    const watch = (health as unknown as { watch(req: object): ClientReadableStream<{ status: string }> }).watch({ service: SERVICE_NAME });
    watch.on("data", (m: { status: string }) => statuses.push(m.status));
    watch.on("error", () => {});
    while (statuses.length === 0) await new Promise((r) => setTimeout(r, 10));
    const client = createCostTrackingClient(address, { maxAttempts: 1 });
    const inFlight = Array.from({ length: 50 }, (_, i) =>
      client.trackApiCall({
        requestId: `shutdown-${i}`,
        model: "gpt-4o-mini",
        usage: { inputTokens: "10" },
        status: EventStatus.EVENT_STATUS_SUCCEEDED,
      }),
    );
    await new Promise((r) => setImmediate(r));

    // when the service is asked to stop
    const closing = service.close();

    // then health turned NOT_SERVING before the server went away, in-flight calls completed, and new calls fail
    const results = await Promise.allSettled(inFlight);
    await closing;
    expect(statuses).toEqual(["SERVING", "NOT_SERVING"]);
    const late = await client.getStats({}).then(() => undefined, (e: CostTrackingError) => e);
    expect(late?.code).toBe(status.UNAVAILABLE);
    const stored = results.filter((r) => r.status === "fulfilled").length;
    const refused = results.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason.code);
    expect(refused.every((code) => code === status.UNAVAILABLE)).toBe(true); // not yet started when the doors closed
    if (engine === "postgres") expect(service.database.pool?.ended).toBe(true);
    expect(await countLedgerRows(engine, database)).toBe(stored);
    client.close();
    health.close();
    await database.close();
  });
});

/** The ledger's row count: through the test's own handle on PGlite, through a new pool on PostgreSQL (the server closed its own). */
async function countLedgerRows(engine: string, database: TestDatabase): Promise<number> {
  const handle = engine === "postgres" ? await openDatabase({ databaseUrl: database.url }) : database;
  const row = await handle.db.selectFrom("ledger_event").select((eb) => eb.fn.countAll<string>().as("n")).executeTakeFirstOrThrow();
  if (handle !== database) await handle.close();
  return Number(row.n);
}
