import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { credentials, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCostTrackingClient, EventStatus, type CostTrackingError } from "../../client/index.js";
import { hashToken } from "../../src/access/tokens.js";
import { loadConfig } from "../../src/config.js";
import { generateCertificates, type TestCertificates } from "../support/certificates.js";
import { startTestService, type TestService } from "../support/service.js";

const run = promisify(execFile);
const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (e: unknown) => e as CostTrackingError);
const track = { model: "gpt-4o-mini", usage: { inputTokens: "10" }, status: EventStatus.EVENT_STATUS_SUCCEEDED };

describe("bearer tokens and roles", () => {
  let t: TestService;
  const client = (token?: string) => createCostTrackingClient(t.address, { maxAttempts: 1, ...(token ? { token } : {}) });

  beforeAll(async () => {
    const { authTokens } = loadConfig({
      AUTH_TOKENS: ["orchestrator:writer", "dashboard:reader", "ops:admin"].map((e) => `${e}:${hashToken(`${e}-secret`)}`).join(","),
    });
    t = await startTestService("pglite", { config: { authTokens } });
  });
  afterAll(() => t?.close());

  it("refuses a call without a token, or with an unknown one, with UNAUTHENTICATED", async () => {
    expect(await failure(client().getStats({}))).toMatchObject({ code: status.UNAUTHENTICATED, reason: "UNAUTHENTICATED" });
    expect(await failure(client("guess").getStats({}))).toMatchObject({ code: status.UNAUTHENTICATED });
  });

  it("lets each role do its own work and refuses the rest with PERMISSION_DENIED", async () => {
    const writer = client("orchestrator:writer-secret");
    const reader = client("dashboard:reader-secret");
    const admin = client("ops:admin-secret");
    expect((await writer.trackApiCall(track)).costUsd).toBe("0.0000015");
    expect((await writer.calculateCost(track)).costUsd).toBe("0.0000015");
    expect(await failure(writer.getStats({}))).toMatchObject({ code: status.PERMISSION_DENIED, reason: "PERMISSION_DENIED" });
    expect((await reader.getStats({ period: "all" })).totals?.callCount).toBe("1");
    expect(await failure(reader.trackApiCall(track))).toMatchObject({ code: status.PERMISSION_DENIED });
    expect((await admin.getStats({ period: "all" })).totals?.callCount).toBe("1");
    expect((await admin.trackApiCall(track)).duplicate).toBe(false);
  });

  it("keeps health and reflection open without a token", async () => {
    const { stdout } = await run("node_modules/.bin/buf", ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--list-services", `http://${t.address}`]);
    expect(stdout).toContain("costtracking.v1.CostTrackingService");
    const health = await run("node_modules/.bin/buf", [
      "curl", "--protocol", "grpc", "--http2-prior-knowledge", "-d", "{}", `http://${t.address}/grpc.health.v1.Health/Check`,
    ]);
    expect(JSON.parse(health.stdout)).toEqual({ status: "SERVING" });
  });
});

describe("reflection switched off", () => {
  it("is not served", async () => {
    const t = await startTestService("pglite", { config: { reflection: false } });
    try {
      const error = (await run("node_modules/.bin/buf", [
        "curl", "--protocol", "grpc", "--http2-prior-knowledge", "--list-services", `http://${t.address}`,
      ]).catch((e: unknown) => e)) as { code: number; stderr: string };
      expect(error.code).not.toBe(0);
      expect(error.stderr).toMatch(/unimplemented/i);
    } finally {
      await t.close();
    }
  });
});

describe("TLS", () => {
  let certs: TestCertificates;
  beforeAll(() => {
    certs = generateCertificates();
  });

  it("serves TLS to clients that trust its CA, and not to plaintext clients", async () => {
    const { tls } = loadConfig({ TLS_CERT_FILE: certs.serverCertPath, TLS_KEY_FILE: certs.serverKeyPath });
    const t = await startTestService("pglite", { config: { tls } });
    try {
      const secure = createCostTrackingClient(t.address, { credentials: credentials.createSsl(certs.caCert), maxAttempts: 1 });
      expect((await secure.calculateCost(track)).costUsd).toBe("0.0000015");
      secure.close();
      const plain = createCostTrackingClient(t.address, { maxAttempts: 1, deadlineMs: 3000 });
      expect((await failure(plain.calculateCost(track)))?.code).toBe(status.UNAVAILABLE);
      plain.close();
    } finally {
      await t.close();
    }
  });

  it("requires a client certificate from the configured CA with mutual TLS", async () => {
    const { tls } = loadConfig({
      TLS_CERT_FILE: certs.serverCertPath,
      TLS_KEY_FILE: certs.serverKeyPath,
      TLS_CLIENT_CA_FILE: certs.caCertPath,
    });
    const t = await startTestService("pglite", { config: { tls } });
    const connect = (key?: Buffer, cert?: Buffer) =>
      createCostTrackingClient(t.address, { credentials: credentials.createSsl(certs.caCert, key ?? null, cert ?? null), maxAttempts: 1, deadlineMs: 3000 });
    try {
      const member = connect(certs.clientKey, certs.clientCert);
      expect((await member.calculateCost(track)).costUsd).toBe("0.0000015");
      member.close();
      for (const outsider of [connect(), connect(certs.strangerKey, certs.strangerCert)]) {
        expect((await failure(outsider.calculateCost(track)))?.code).toBe(status.UNAVAILABLE);
        outsider.close();
      }
    } finally {
      await t.close();
    }
  });
});

describe("limits", () => {
  it("refuses a caller over its rate with RESOURCE_EXHAUSTED and retry information, and still serves others", async () => {
    const { authTokens } = loadConfig({
      AUTH_TOKENS: `greedy:reader:${hashToken("greedy")},polite:reader:${hashToken("polite")}`,
    });
    const t = await startTestService("pglite", { config: { authTokens, rateLimitPerSecond: 1, rateLimitBurst: 3 } });
    try {
      const greedy = createCostTrackingClient(t.address, { token: "greedy", maxAttempts: 1 });
      const polite = createCostTrackingClient(t.address, { token: "polite", maxAttempts: 1 });
      for (let i = 0; i < 3; i++) await greedy.getStats({});
      const error = await failure(greedy.getStats({}));
      expect(error).toMatchObject({ code: status.RESOURCE_EXHAUSTED, reason: "RATE_LIMITED" });
      expect(Number(error!.message.match(/retry in (\d+) ms/)?.[1])).toBeGreaterThan(0);
      expect((await polite.getStats({})).totals?.callCount).toBe("0");
      greedy.close();
      polite.close();
    } finally {
      await t.close();
    }
  });

  it("refuses a caller's stream over MAX_STREAMS_PER_CALLER with RESOURCE_EXHAUSTED, and frees the slot when one ends", async () => {
    const t = await startTestService("pglite", { config: { maxStreamsPerCaller: 2 } });
    try {
      const open = () => {
        const abort = new AbortController();
        const iterator = t.client.watchStats({ period: "today" }, { signal: abort.signal })[Symbol.asyncIterator]();
        return { abort, first: iterator.next() };
      };
      const [a, b] = [open(), open()];
      await Promise.all([a.first, b.first]); // both streams delivered their first snapshot
      const third = open();
      expect(await third.first.then(() => undefined, (e: CostTrackingError) => e)).toMatchObject({
        code: status.RESOURCE_EXHAUSTED,
        reason: "TOO_MANY_STREAMS",
      });
      a.abort.abort();
      await expect.poll(async () => {
        const next = open();
        const ok = await next.first.then(() => true, () => false);
        next.abort.abort();
        return ok;
      }).toBe(true);
      b.abort.abort();
    } finally {
      await t.close();
    }
  });

  it("refuses a message over the size limit with RESOURCE_EXHAUSTED and stores nothing", async () => {
    const t = await startTestService("pglite", { config: { maxMessageBytes: 64 * 1024 } });
    try {
      const error = await failure(t.client.trackApiCall({ ...track, errorMessage: "x".repeat(100_000) }));
      expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
      expect((await t.client.getStats({})).totals?.callCount).toBe("0");
    } finally {
      await t.close();
    }
  });
});
