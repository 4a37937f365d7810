import { describe, expect, it } from "vitest";
import { CostTrackingServiceService } from "../../gen/costtracking/v1/cost_tracking_service.js";
import { AccessPolicy } from "../../src/access/access-policy.js";
import { METHOD_PERMISSIONS, permissionOf, roleGrants } from "../../src/access/permissions.js";
import { RateLimiter, StreamCounter } from "../../src/access/rate-limiter.js";
import { hashToken, parseTokenEntries } from "../../src/access/tokens.js";
import { isLoopbackAddress, loadConfig } from "../../src/config.js";

describe("token entries", () => {
  it("reads name:role:sha256 entries from lines or commas, skipping comments", () => {
    const hash = hashToken("secret");
    const { entries, problems } = parseTokenEntries(`# tokens\norchestrator:writer:${hash}\n\n`, "file");
    expect(problems).toEqual([]);
    expect(entries.get(hash)).toEqual({ name: "orchestrator", role: "writer" });
  });

  it("refuses plain tokens, unknown roles and duplicates without echoing secrets", () => {
    const hash = hashToken("x");
    const { problems } = parseTokenEntries(`a:writer:plaintext-token,b:owner:${hash},c:reader:${hash},d:admin:${hash}`, "AUTH_TOKENS");
    expect(problems).toHaveLength(3);
    expect(problems.join("\n")).not.toContain("plaintext-token");
    expect(problems[0]).toContain("SHA-256");
  });
});

describe("permissions", () => {
  it("classifies every RPC of the service explicitly", () => {
    const methods = Object.values(CostTrackingServiceService).map((m) => m.path.split("/").pop()!);
    expect(methods.filter((m) => !(m in METHOD_PERMISSIONS))).toEqual([]);
  });

  it("gives readers queries, writers recording, admins everything", () => {
    expect(roleGrants("reader", permissionOf("GetStats"))).toBe(true);
    expect(roleGrants("reader", permissionOf("TrackApiCall"))).toBe(false);
    expect(roleGrants("writer", permissionOf("TrackApiCall"))).toBe(true);
    expect(roleGrants("writer", permissionOf("CalculateCost"))).toBe(true);
    expect(roleGrants("writer", permissionOf("GetStats"))).toBe(false);
    expect(roleGrants("writer", permissionOf("UpsertModelPrice"))).toBe(false);
    expect(roleGrants("admin", permissionOf("UpsertModelPrice"))).toBe(true);
    expect(permissionOf("SomeFutureRpc")).toBe("admin");
  });
});

describe("limits", () => {
  it("lets a caller burst, then refuses with the wait until the next call is allowed", () => {
    let now = 0;
    const limiter = new RateLimiter(10, 2, () => now);
    expect([limiter.take("a"), limiter.take("a")]).toEqual([0, 0]);
    expect(limiter.take("a")).toBe(100);
    expect(limiter.take("b")).toBe(0);
    now = 100;
    expect(limiter.take("a")).toBe(0);
  });

  it("counts open streams per caller", () => {
    const streams = new StreamCounter(2);
    expect([streams.tryOpen("a"), streams.tryOpen("a"), streams.tryOpen("a"), streams.tryOpen("b")]).toEqual([true, true, false, true]);
    streams.close("a");
    expect(streams.tryOpen("a")).toBe(true);
  });

  it("identifies unauthenticated callers by host, so one host's connections share a limit", () => {
    const policy = new AccessPolicy({ tokens: undefined, rateLimitPerSecond: 1, rateLimitBurst: 1, maxStreamsPerCaller: 1 });
    expect(policy.admit("GetStats", undefined, "ipv4:10.0.0.1:1111").id).toBe("ipv4:10.0.0.1");
    expect(() => policy.admit("GetStats", undefined, "ipv4:10.0.0.1:2222")).toThrow(/rate limit/);
  });
});

describe("authentication configuration", () => {
  const line = `ops:admin:${hashToken("t")}`;
  it("is off by default and on when tokens are configured", () => {
    expect(loadConfig({}).authTokens).toBeUndefined();
    expect(loadConfig({ AUTH_TOKENS: line }).authTokens?.size).toBe(1);
  });

  it("cannot be switched off on a reachable address once tokens are configured", () => {
    expect(() => loadConfig({ AUTH_TOKENS: line, AUTH: "off", LISTEN_ADDRESS: "0.0.0.0:50051" })).toThrow(/AUTH=off is refused/);
    expect(loadConfig({ AUTH_TOKENS: line, AUTH: "off", LISTEN_ADDRESS: "127.0.0.1:50051" }).authTokens).toBeUndefined();
    expect(() => loadConfig({ AUTH: "on" })).toThrow(/AUTH=on needs tokens/);
  });

  it("knows loopback addresses", () => {
    expect(["127.0.0.1:1", "localhost:1", "[::1]:1"].map(isLoopbackAddress)).toEqual([true, true, true]);
    expect(["0.0.0.0:1", "10.1.2.3:1", "[::]:1"].map(isLoopbackAddress)).toEqual([false, false, false]);
  });
});
