import { describe, expect, it } from "vitest";
import { canonicalJson, contentHash, type NewApiCall } from "../../src/ledger/ledger-event.js";

const call: NewApiCall = {
  requestId: "r-1",
  callTime: "2025-03-09T18:00:00.000000Z",
  taskId: "task-1",
  agentId: undefined,
  agentExecutionId: "exec-1",
  userId: "user-é",
  operation: 'say "hi"',
  model: "gpt-4o-mini",
  provider: "openai",
  endpoint: undefined,
  usage: { inputTokens: 1200n, cacheReadInputTokens: 0n, cacheWriteInputTokens: 0n, outputTokens: 300n, reasoningOutputTokens: 0n },
  durationMs: 850n,
  status: "succeeded",
  errorMessage: undefined,
};

describe("the content hash of an event", () => {
  it("is computed from one fixed text: sorted keys, no undefined fields, bigints as strings", () => {
    // Stored hashes depend on this text, so it must never change.
    expect(canonicalJson({ b: 1n, a: { d: "x", c: undefined }, e: null, f: true })).toBe('{"a":{"d":"x"},"b":"1","e":null,"f":true}');
    expect(contentHash("api_call", call)).toBe(
      contentHash("api_call", { ...call, requestId: "another-id" }),
    );
    expect(contentHash("api_call", call)).toBe("2nWdZxY2PMqDg-xBdJfqzKBwgxOqcVKFHBorHA3DlmE");
  });

  it("differs when any sent field differs", () => {
    expect(contentHash("api_call", call)).not.toBe(contentHash("api_call", { ...call, durationMs: 851n }));
    expect(contentHash("api_call", call)).not.toBe(contentHash("api_call", { ...call, usage: { ...call.usage, outputTokens: 301n } }));
  });
});
