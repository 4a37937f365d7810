import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestService, type TestService } from "../support/service.js";
import { CODE_TRACE } from "../support/traces.js";

const exec = promisify(execFile);

describe("costctl against a real server", () => {
  let t: TestService;
  const costctl = (...args: string[]) => exec("node", ["bin/costctl.mjs", ...args, "--server", t.address]);
  const failing = (...args: string[]) =>
    costctl(...args).then(
      () => ({ code: 0, stderr: "" }),
      (e: { code: number; stderr: string }) => e,
    );

  beforeAll(async () => {
    t = await startTestService("pglite");
  });
  afterAll(() => t?.close());

  it("imports the real code trace as gpt-4o-mini, and stats shows exactly the reference totals", async () => {
    const imported = await costctl("import", "trace", CODE_TRACE, "--model", "gpt-4o-mini", "--json");
    expect(JSON.parse(imported.stdout)).toMatchObject({
      read: 8819,
      duplicates: 0,
      totals: { callCount: "8819", inputTokens: "18059974", outputTokens: "245896", costUsd: "2.8565337" },
    });
    const stats = JSON.parse((await costctl("stats", "--period", "all", "--json")).stdout);
    expect(stats.totals).toMatchObject({ callCount: "8819", inputTokens: "18059974", outputTokens: "245896", costUsd: "2.8565337" });
    const table = (await costctl("stats", "--period", "all")).stdout;
    expect(table).toMatch(/calls\s+8,819/);
    expect(table).toContain("$2.8565337");
    const again = JSON.parse((await costctl("import", "trace", CODE_TRACE, "--model", "gpt-4o-mini", "--json")).stdout);
    expect(again).toMatchObject({ read: 8819, duplicates: 8819 });
  });

  it("tracks one call from flags and shows it per hour and per task", async () => {
    const tracked = await costctl("track", "--model", "gpt-4o-mini", "--input-tokens", "1000", "--output-tokens", "500",
      "--task", "cli-task", "--operation", "draft", "--time", "2025-03-09T18:30:00Z", "--request-id", "cli-1");
    expect(tracked.stdout).toMatch(/^recorded event [0-9a-f-]{36}: \$0\.00045 \(openai\/gpt-4o-mini/);
    const again = await costctl("track", "--model", "gpt-4o-mini", "--input-tokens", "1000", "--output-tokens", "500",
      "--task", "cli-task", "--operation", "draft", "--time", "2025-03-09T18:30:00Z", "--request-id", "cli-1");
    expect(again.stdout).toMatch(/^already recorded/);
    const hours = JSON.parse((await costctl("aggregate", "--window", "hour", "--task", "cli-task", "--json")).stdout);
    expect(hours.buckets).toHaveLength(1);
    expect(hours.buckets[0]).toMatchObject({ label: "2025-03-09T18:00:00+00:00", totals: { costUsd: "0.00045" } });
    const task = (await costctl("aggregate", "--task", "cli-task")).stdout;
    expect(task).toContain("draft");
    expect(task).toContain("$0.00045");
  });

  it("estimates a cost with its line items", async () => {
    const { stdout } = await costctl("estimate", "--model", "gpt-4o-mini", "--input-tokens", "2000", "--cache-read-tokens", "1000", "--output-tokens", "10");
    expect(stdout).toMatch(/input\s+1,000\s+0\.15\s+\$0\.00015/);
    expect(stdout).toMatch(/cache read\s+1,000\s+0\.075\s+\$0\.000075/);
    expect(stdout).toContain("total $0.000231");
  });

  it("prints one clear line and exits non-zero on bad input", async () => {
    const invalid = await failing("track", "--model", "gpt-4o-mini", "--input-tokens", "5", "--reasoning-tokens", "3");
    expect(invalid.code).toBe(1);
    expect(invalid.stderr.trim().split("\n")).toEqual([
      "costctl: INVALID_ARGUMENT INVALID_FIELD: usage.reasoning_output_tokens: reasoning tokens (3) must not exceed output_tokens (0)",
    ]);
    const usage = await failing("track", "--input-tokens", "5");
    expect(usage).toMatchObject({ code: 2, stderr: "costctl: --model is required\n" });
    expect((await failing("nonsense")).code).toBe(2);
  });

  it("has --help on every command", async () => {
    for (const command of ["serve", "migrate", "track", "estimate", "stats", "aggregate", "import"]) {
      const { stdout } = await costctl(command, "--help");
      expect(stdout).toMatch(new RegExp(`^usage: costctl ${command}`));
      expect(stdout).toContain("--json");
    }
  });
});
