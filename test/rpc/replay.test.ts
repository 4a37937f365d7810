import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { replayTrace } from "../../src/cli/replay-trace.js";
import { ENGINES } from "../support/database.js";
import { startTestService, type TestService } from "../support/service.js";
import { CONV_TRACE } from "../support/traces.js";

describe.each(ENGINES)("replaying the real Azure conversation trace on %s", (engine) => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService(engine);
  });
  afterAll(() => t?.close());

  it("gives exactly the reference totals as gpt-4o-mini, and a second replay adds nothing", async () => {
    const first = await replayTrace(t.client, CONV_TRACE, { model: "gpt-4o-mini" });
    expect(first).toMatchObject({ sent: 19_366, accepted: 19_366, duplicates: 0, rejected: 0 });
    expect(first.task.totals).toMatchObject({
      callCount: "19366",
      inputTokens: "22361870",
      outputTokens: "4088665",
      costUsd: "5.8074795",
      unpricedCallCount: "0",
    });
    expect(first.hours.buckets.map((b) => [b.label, b.totals?.callCount])).toEqual([
      ["2023-11-16T18:00:00+00:00", "15606"],
      ["2023-11-16T19:00:00+00:00", "3760"],
    ]);
    expect(first.hours.totals).toEqual(first.task.totals);

    const second = await replayTrace(t.client, CONV_TRACE, { model: "gpt-4o-mini" });
    expect(second).toMatchObject({ sent: 19_366, accepted: 0, duplicates: 19_366, rejected: 0 });
    expect(second.task.totals).toEqual(first.task.totals);
  });
});
