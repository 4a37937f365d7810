import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createCostTrackingClient, EventStatus } from "../../client/index.js";
import { startServerProcess } from "../support/server-process.js";

describe("the embedded database killed mid-write", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("opens again and holds every acknowledged event", async () => {
    // given a server on a fresh embedded database, recording calls from 16 concurrent writers
    const dataDir = await mkdtemp(join(tmpdir(), "costtracking-kill-"));
    dirs.push(dataDir);
    const first = await startServerProcess({ DATA_DIR: dataDir });
    const client = createCostTrackingClient(first.address, { maxAttempts: 1, deadlineMs: 5_000 });
    const acknowledged = new Set<string>();
    let killed = false;
    const writer = async (w: number) => {
      for (let i = 0; !killed; i++) {
        const requestId = `kill-${w}-${i}`;
        try {
          await client.trackApiCall({
            requestId,
            model: "gpt-4o-mini",
            usage: { inputTokens: "1000", outputTokens: "0" },
            status: EventStatus.EVENT_STATUS_SUCCEEDED,
          });
          acknowledged.add(requestId);
        } catch {
          return; // the server is gone
        }
      }
    };
    const writers = Array.from({ length: 16 }, (_, w) => writer(w));

    // when the process is killed with SIGKILL while writes are in flight
    while (acknowledged.size < 300) await new Promise((r) => setTimeout(r, 20));
    first.child.kill("SIGKILL");
    killed = true;
    await first.exited;
    await Promise.all(writers);
    client.close();

    // then the database opens again and every acknowledged call is there, each once
    const second = await startServerProcess({ DATA_DIR: dataDir });
    const after = createCostTrackingClient(second.address, { maxAttempts: 1 });
    try {
      const stats = await after.getStats({ period: "all" });
      const stored = BigInt(stats.totals!.callCount);
      expect(stored).toBeGreaterThanOrEqual(BigInt(acknowledged.size));
      expect(stored).toBeLessThanOrEqual(BigInt(acknowledged.size + 16)); // at most the 16 in flight, unacknowledged
      for (const requestId of acknowledged) {
        const again = await after.trackApiCall({
          requestId,
          model: "gpt-4o-mini",
          usage: { inputTokens: "1000", outputTokens: "0" },
          status: EventStatus.EVENT_STATUS_SUCCEEDED,
        });
        expect(again.duplicate).toBe(true);
      }
      expect((await after.getStats({ period: "all" })).totals?.callCount).toBe(stats.totals?.callCount);
    } finally {
      after.close();
      second.child.kill("SIGTERM");
      await second.exited;
    }
  });
});
