import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventStatus, TimeWindow, type CostTotals } from "../../client/index.js";
import { replayTrace } from "../../src/cli/replay-trace.js";
import { foldRollups } from "../../src/aggregation/rollup-folder.js";
import { Money } from "../../src/money.js";
import { ENGINES } from "../support/database.js";
import { fixedClock, startTestService, type TestService } from "../support/service.js";
import { CONV_TRACE } from "../support/traces.js";

/** The replay issue's reference totals for the conversation trace priced as gpt-4o-mini. */
const REFERENCE = {
  callCount: "19366",
  inputTokens: "22361870",
  outputTokens: "4088665",
  costUsd: "5.8074795",
  unpricedCallCount: "0",
};

/** The exact field-wise sum of several totals (strings, no floats). */
function sum(all: Array<CostTotals | undefined>): Record<keyof typeof REFERENCE, string> {
  const whole = (pick: (t: CostTotals) => string) => all.reduce((acc, t) => acc + BigInt(pick(t!)), 0n).toString();
  return {
    callCount: whole((t) => t.callCount),
    inputTokens: whole((t) => t.inputTokens),
    outputTokens: whole((t) => t.outputTokens),
    costUsd: all.reduce((acc, t) => acc.plus(t!.costUsd), new Money(0)).toFixed(),
    unpricedCallCount: whole((t) => t.unpricedCallCount),
  };
}

describe.each(ENGINES)("every aggregate over the replayed conversation trace on %s", (engine) => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService(engine, { clock: fixedClock("2023-11-17T00:00:00Z"), config: { rollupFoldIntervalMs: 3_600_000 } });
    const replayed = await replayTrace(t.client, CONV_TRACE, { model: "gpt-4o-mini", provider: "openai" });
    expect(replayed.sent).toBe(19_366);
  });
  afterAll(() => t?.close());

  for (const folded of [false, true]) {
    it(`equals the reference totals whichever grouping is used (${folded ? "from the rollups" : "before any fold"})`, async () => {
      if (folded) await foldRollups(t.database.db);
      for (const groupBy of [[], ["task"], ["agent"], ["user"], ["provider"], ["model"], ["operation"], ["status"], ["agent_execution"], ["provider", "model"]]) {
        const result = await t.client.aggregateCosts({ groupBy });
        expect(sum([result.totals]), groupBy.join()).toEqual(REFERENCE);
        expect(sum(result.rows.map((r) => r.totals)), groupBy.join()).toEqual(REFERENCE);
      }
      for (const [window, zone] of [
        [TimeWindow.TIME_WINDOW_HOUR, "UTC"],
        [TimeWindow.TIME_WINDOW_HOUR, "Asia/Kathmandu"],
        [TimeWindow.TIME_WINDOW_DAY, "Asia/Kolkata"],
        [TimeWindow.TIME_WINDOW_WEEK, "America/New_York"],
        [TimeWindow.TIME_WINDOW_MONTH, "Pacific/Chatham"],
      ] as const) {
        const bounded = await t.client.aggregateCosts({
          window,
          timeZone: zone,
          filter: { startTime: { seconds: String(Date.parse("2023-11-16T00:00:00Z") / 1000) }, endTime: { seconds: String(Date.parse("2023-11-17T00:00:00Z") / 1000) } },
        });
        expect(sum(bounded.rows.map((r) => r.totals)), `${window} ${zone}`).toEqual(REFERENCE);
      }
      const byAgent = await t.client.aggregateByAgent({});
      const byUser = await t.client.aggregateByUser({ filter: { status: EventStatus.EVENT_STATUS_SUCCEEDED } });
      const providers = await t.client.getProviderBreakdown({ period: "all" });
      const period = await t.client.aggregateByPeriod({ window: TimeWindow.TIME_WINDOW_DAY, timeZone: "Asia/Kolkata" });
      const task = await t.client.aggregateByTask({ taskId: "replay:AzureLLMInferenceTrace_conv.csv:gpt-4o-mini" });
      const stats = await t.client.getStats({ period: "all" });
      const history = await t.client.getCostHistory({ days: 2 });
      for (const totals of [byAgent.totals, byUser.totals, providers.totals, period.totals, task.totals, stats.totals]) {
        expect(sum([totals])).toEqual(REFERENCE);
      }
      expect(sum(providers.providers.flatMap((p) => p.models.map((m) => m.totals)))).toEqual(REFERENCE);
      expect(history.totalCostUsd).toBe(REFERENCE.costUsd);
      expect(history.days.map((d) => d.callCount)).toEqual(["19366", "0"]);
    });
  }
});
