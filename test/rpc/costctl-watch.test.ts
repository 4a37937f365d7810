import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventStatus } from "../../client/index.js";
import { startTestService, type TestService } from "../support/service.js";

describe("costctl watch", () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService("pglite");
  });
  afterAll(() => t?.close());

  it("shows a snapshot at once, then a new one when a call is recorded, and ends cleanly on SIGINT", async () => {
    // given a watch of today's usage, as JSON lines
    const child = spawn("node", ["bin/costctl.mjs", "watch", "--json", "--interval", "100", "--server", t.address], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const nextSnapshot = async () => {
      for (;;) {
        const { value } = await lines.next();
        const message = JSON.parse(value as string) as { snapshot?: { stats?: { totals?: { callCount: string; costUsd: string } } } };
        if (message.snapshot) return message.snapshot;
      }
    };
    expect((await nextSnapshot()).stats?.totals?.callCount).toBe("0");

    // when a call is recorded
    await t.client.trackApiCall({ model: "gpt-4o-mini", usage: { inputTokens: "1000", outputTokens: "500" }, status: EventStatus.EVENT_STATUS_SUCCEEDED });

    // then the next snapshot shows it, exactly
    expect((await nextSnapshot()).stats?.totals).toMatchObject({ callCount: "1", costUsd: "0.00045" });
    child.kill("SIGINT");
    expect(await new Promise((resolve) => child.on("exit", resolve))).toBe(0);
  });
});
