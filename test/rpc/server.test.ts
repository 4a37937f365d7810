import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventStatus } from "../../client/index.js";
import { startServerProcess } from "../support/server-process.js";
import { startTestService, type TestService } from "../support/service.js";

const run = promisify(execFile);
const buf = "node_modules/.bin/buf";

describe("the server as engineers see it", () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService("pglite");
  });
  afterAll(() => t?.close());

  it("lists the service and health through reflection (buf curl)", async () => {
    const { stdout } = await run(buf, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--list-services", `http://${t.address}`]);
    expect(stdout.trim().split("\n").sort()).toEqual(["costtracking.v1.CostTrackingService", "grpc.health.v1.Health"]);
  });

  it("reports SERVING on the standard health check", async () => {
    const { stdout } = await run(buf, [
      "curl", "--protocol", "grpc", "--http2-prior-knowledge",
      "-d", '{"service":"costtracking.v1.CostTrackingService"}',
      `http://${t.address}/grpc.health.v1.Health/Check`,
    ]);
    expect(JSON.parse(stdout)).toEqual({ status: "SERVING" });
  });

  it("answers the README's TrackApiCall call through reflection", async () => {
    const { stdout } = await run(buf, [
      "curl", "--protocol", "grpc", "--http2-prior-knowledge",
      "-d", '{"requestId":"readme-1","model":"gpt-4o-mini","usage":{"inputTokens":"1200","outputTokens":"300"},"status":"EVENT_STATUS_SUCCEEDED"}',
      `http://${t.address}/costtracking.v1.CostTrackingService/TrackApiCall`,
    ]);
    expect(JSON.parse(stdout)).toMatchObject({ costUsd: "0.00036" });
    const stats = await t.client.getStats({ period: "all" });
    expect(stats.totals?.costUsd).toBe("0.00036");
    expect(stats.succeededCallCount).toBe("1");
    expect(EventStatus.EVENT_STATUS_SUCCEEDED).toBe(1);
  });
});

describe("the server process", () => {
  it("exits non-zero with a clear message on a bad configuration value", async () => {
    const error = (await run(process.execPath, ["--import", "tsx", "src/main.ts"], {
      env: { ...process.env, LOG_LEVEL: "chatty", LISTEN_ADDRESS: "nowhere" },
    }).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(error.code).toBe(2);
    expect(error.stderr).toContain('LOG_LEVEL="chatty" must be one of debug, info, warn, error');
    expect(error.stderr).toContain('LISTEN_ADDRESS="nowhere"');
  });

  it("serves on the embedded database and stops cleanly on SIGTERM", async () => {
    const dataDir = `/tmp/costtracking-sigterm-${process.pid}`;
    const server = await startServerProcess({ DATA_DIR: dataDir });
    expect(server.log()).toContain('"engine":"pglite"');
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    expect(server.log()).toContain('"stopped"');
    await run("rm", ["-rf", dataDir]);
  });
});
