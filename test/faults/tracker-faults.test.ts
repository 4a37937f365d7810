import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CostTracker, createCostTrackingClient, EventStatus } from "../../client/index.js";
import { Money, formatMoney } from "../../src/money.js";
import { openDatabase } from "../../src/db/database.js";
import { migrateToLatest } from "../../src/db/migrator.js";
import { freePort, startPrivatePostgres, type PrivatePostgres } from "../support/private-postgres.js";
import { startServerProcess, type ServerProcess } from "../support/server-process.js";

const EVENTS = 50_000;
/** Event i: gpt-4o-mini, 100 + (i mod 900) input tokens and 20 output tokens. */
const call = (i: number) => ({
  requestId: `fault-${i}`,
  model: "gpt-4o-mini",
  usage: { inputTokens: String(100 + (i % 900)), outputTokens: "20" },
  status: EventStatus.EVENT_STATUS_SUCCEEDED,
});
/** The exact total cost of events 0..n-1, computed here independently of the server. */
function expectedCost(n: number): string {
  let input = 0n;
  for (let i = 0; i < n; i++) input += BigInt(100 + (i % 900));
  return formatMoney(new Money(input.toString()).times("0.15").plus(new Money(20 * n).times("0.6")).dividedBy(1_000_000));
}

describe("the tracker through faults, on a PostgreSQL server of the test's own", () => {
  let postgres: PrivatePostgres;
  const servers: ServerProcess[] = [];
  beforeAll(async () => {
    postgres = await startPrivatePostgres();
  });
  afterAll(async () => {
    for (const server of servers) server.child.kill("SIGKILL");
    postgres?.destroy();
  });

  /** A fresh database on the private server, and a server process on it at a fixed port. */
  async function serverOn(database: string, port: number): Promise<ServerProcess> {
    const server = await startServerProcess({ DATABASE_URL: postgres.url(database), LISTEN_ADDRESS: `127.0.0.1:${port}` });
    servers.push(server);
    return server;
  }
  async function createDatabase(name: string): Promise<void> {
    const admin = await openDatabase({ databaseUrl: postgres.url() });
    await admin.pool!.query(`create database ${name}`);
    await admin.close();
    const db = await openDatabase({ databaseUrl: postgres.url(name) });
    await migrateToLatest(db.db);
    await db.close();
  }
  async function drive(port: number, midway: () => Promise<void>) {
    const client = createCostTrackingClient(`127.0.0.1:${port}`, { maxAttempts: 1, deadlineMs: 5_000 });
    const tracker = new CostTracker(client, { batchSize: 1000, flushIntervalMs: 20, initialBackoffMs: 100, maxBackoffMs: 1000 });
    for (let i = 0; i < EVENTS; i++) {
      await tracker.recordApiCall(call(i));
      if (i === EVENTS / 2) await midway();
    }
    await tracker.close();
    const stats = await client.getStats({ period: "all" });
    client.close();
    return { counters: tracker.counters, stats };
  }

  it("stores exactly 50,000 events and the exact total when PostgreSQL stops and restarts mid-stream", async () => {
    await createDatabase("outage");
    const port = await freePort();
    await serverOn("outage", port);
    const { counters, stats } = await drive(port, async () => {
      postgres.stop("immediate");
      await new Promise((r) => setTimeout(r, 1500)); // the tracker keeps recording into its buffer and retrying
      postgres.start();
    });
    expect(counters.retries).toBeGreaterThan(0);
    expect(counters).toMatchObject({ recorded: EVENTS, rejected: 0, dropped: 0, failed: 0, pending: 0 });
    expect(counters.stored + counters.duplicates).toBe(EVENTS);
    expect(stats.totals).toMatchObject({ callCount: String(EVENTS), costUsd: expectedCost(EVENTS) });
  });

  it("stores exactly 50,000 events and the exact total when the server is killed with SIGKILL mid-stream and restarted", async () => {
    await createDatabase("killed");
    const port = await freePort();
    const first = await serverOn("killed", port);
    const { counters, stats } = await drive(port, async () => {
      first.child.kill("SIGKILL");
      await first.exited;
      await serverOn("killed", port);
    });
    expect(counters.retries).toBeGreaterThan(0);
    expect(counters).toMatchObject({ recorded: EVENTS, rejected: 0, dropped: 0, failed: 0, pending: 0 });
    expect(stats.totals).toMatchObject({ callCount: String(EVENTS), costUsd: expectedCost(EVENTS) });
  });
});
