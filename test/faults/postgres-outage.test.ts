import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCostTrackingClient, EventStatus, type CostTrackingError } from "../../client/index.js";
import { DEFAULT_CONFIG } from "../../src/config.js";
import { openDatabase, type DatabaseHandle } from "../../src/db/database.js";
import { silentLogger } from "../../src/logger.js";
import { startService, type RunningService } from "../../src/server.js";
import { startPrivatePostgres, type PrivatePostgres } from "../support/private-postgres.js";

describe("PostgreSQL stopped and restarted under a running server", () => {
  let postgres: PrivatePostgres;
  let database: DatabaseHandle;
  let service: RunningService;
  const call = (i: number) => ({
    requestId: `outage-${i}`,
    model: "gpt-4o-mini",
    usage: { inputTokens: "1000", outputTokens: "100" },
    status: EventStatus.EVENT_STATUS_SUCCEEDED,
  });

  beforeAll(async () => {
    postgres = await startPrivatePostgres();
    database = await openDatabase({ databaseUrl: postgres.url() });
    service = await startService({
      config: { ...DEFAULT_CONFIG, listenAddress: "127.0.0.1:0" },
      logger: silentLogger,
      database,
    });
  });
  afterAll(async () => {
    await service?.close();
    await database?.close();
    postgres?.destroy();
  });

  it("fails calls fast with UNAVAILABLE during the outage, then records again with nothing lost or doubled", async () => {
    // given a server that has recorded 20 calls
    const client = createCostTrackingClient(`127.0.0.1:${service.port}`, { maxAttempts: 1, deadlineMs: 10_000 });
    for (let i = 0; i < 20; i++) await client.trackApiCall(call(i));

    // when PostgreSQL stops, every call in the outage is refused with UNAVAILABLE well before its deadline
    postgres.stop("immediate");
    const started = Date.now();
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, i) => client.trackApiCall(call(100 + i)).then(() => "stored", (e: CostTrackingError) => e)),
    );
    const elapsedMs = Date.now() - started;
    for (const outcome of outcomes) {
      expect(outcome).toMatchObject({ code: status.UNAVAILABLE, reason: "STORAGE_UNAVAILABLE" });
    }
    expect(elapsedMs).toBeLessThan(10_000); // not a speed target: the proof that nothing waited for its deadline

    // then after a restart the same requests succeed, the retried ones once each
    postgres.start();
    const retried = [];
    for (let i = 0; i < 10; i++) retried.push(await client.trackApiCall(call(100 + i)));
    for (let i = 0; i < 20; i++) expect((await client.trackApiCall(call(i))).duplicate).toBe(true);
    expect(retried.every((r) => !r.duplicate)).toBe(true);
    const stats = await client.getStats({ period: "all" });
    expect(stats.totals).toMatchObject({ callCount: "30", costUsd: "0.0063" });
    client.close();
  });
});
