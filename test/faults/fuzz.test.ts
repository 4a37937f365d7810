import { randomBytes } from "node:crypto";
import { makeGenericClientConstructor, credentials, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EventStatus,
  TrackAgentExecutionRequest,
  TrackApiCallRequest,
} from "../../client/index.js";
import { IDENTIFIER_PATTERN } from "../../src/validation.js";
import { startTestService, type TestService } from "../support/service.js";

/** Deterministic pseudo-random numbers, so a failing run can be replayed from its seed. */
function generator(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]! };
}

const SEEDS = [
  TrackApiCallRequest.encode(
    TrackApiCallRequest.fromPartial({
      requestId: "fuzz-seed",
      taskId: "t",
      model: "gpt-4o-mini",
      provider: "openai",
      usage: { inputTokens: "1000", cacheReadInputTokens: "10", outputTokens: "50", reasoningOutputTokens: "5" },
      durationMs: "12",
      status: EventStatus.EVENT_STATUS_SUCCEEDED,
      callTime: { seconds: "1741543200", nanos: 5 },
    }),
  ).finish(),
  TrackAgentExecutionRequest.encode(
    TrackAgentExecutionRequest.fromPartial({ requestId: "fuzz-seed-2", agentId: "a", durationMs: "3", status: EventStatus.EVENT_STATUS_FAILED }),
  ).finish(),
];

/** A message: random bytes, or a valid encoding with bytes flipped, inserted, removed or truncated. */
function mutant(random: ReturnType<typeof generator>): Buffer {
  if (random.next() < 0.2) return randomBytes(random.int(200));
  const bytes = [...random.pick(SEEDS)];
  for (let edits = 1 + random.int(4); edits > 0; edits--) {
    const at = random.int(bytes.length + 1);
    switch (random.int(4)) {
      case 0:
        bytes[at] = random.int(256);
        break;
      case 1:
        bytes.splice(at, 0, random.int(256));
        break;
      case 2:
        bytes.splice(at, 1 + random.int(3));
        break;
      default:
        bytes.length = Math.min(bytes.length, at);
    }
  }
  return Buffer.from(bytes);
}

describe("fuzzing the write RPCs with random and mutated protobuf messages", () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService("pglite");
  });
  afterAll(() => t?.close());

  it("never crashes the server and never stores a row that fails validation", async () => {
    const raw = (b: Buffer) => b;
    const Client = makeGenericClientConstructor(
      {
        trackApiCall: { path: "/costtracking.v1.CostTrackingService/TrackApiCall", requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
        trackAgentExecution: { path: "/costtracking.v1.CostTrackingService/TrackAgentExecution", requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
      },
      "Fuzz",
    );
    const client = new Client(t.address, credentials.createInsecure()) as unknown as Record<
      string,
      (req: Buffer, cb: (e: ServiceError | null) => void) => void
    >;
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
    const random = generator(seed);
    const codes = new Map<number, number>();
    const deadline = Date.now() + Number(process.env.FUZZ_SECONDS ?? 8) * 1000;
    let sent = 0;
    while (Date.now() < deadline) {
      const method = random.next() < 0.7 ? "trackApiCall" : "trackAgentExecution";
      const code = await new Promise<number>((resolve) => client[method]!(mutant(random), (e) => resolve(e ? e.code : 0)));
      codes.set(code, (codes.get(code) ?? 0) + 1);
      sent += 1;
    }
    (client as unknown as { close(): void }).close();

    // the server answered every message with OK or INVALID_ARGUMENT (undecodable ones too), never INTERNAL or a crash
    expect(sent, `seed ${seed}`).toBeGreaterThan(50);
    expect([...codes.keys()].filter((c) => c !== 0 && c !== 3), `seed ${seed}: ${JSON.stringify([...codes])}`).toEqual([]);
    expect((await t.client.getStats({})).totals).toBeDefined();

    // and every stored row satisfies the documented rules
    const rows = await t.database.db.selectFrom("ledger_event").selectAll().execute();
    for (const row of rows) {
      const where = `seed ${seed}, row ${row.request_id}`;
      expect(row.request_id, where).toMatch(IDENTIFIER_PATTERN);
      for (const id of [row.task_id, row.agent_id, row.agent_execution_id, row.user_id]) if (id !== null) expect(id, where).toMatch(IDENTIFIER_PATTERN);
      if (row.kind === "api_call") expect(row.model?.trim(), where).toBeTruthy();
      expect(["succeeded", "failed", "cancelled"], where).toContain(row.status);
      expect(row.model?.length ?? 0, where).toBeLessThanOrEqual(200);
      expect(BigInt(row.cache_read_input_tokens) + BigInt(row.cache_write_input_tokens) <= BigInt(row.input_tokens), where).toBe(true);
      expect(BigInt(row.reasoning_output_tokens) <= BigInt(row.output_tokens), where).toBe(true);
      expect(Date.parse(row.occurred_at.replace(" ", "T").replace(/\+00$/, "Z")), where).toBeLessThanOrEqual(Date.now() + 300_000);
    }
  });
});
