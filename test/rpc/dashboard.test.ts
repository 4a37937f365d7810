import { status } from "@grpc/grpc-js";
import { sql } from "kysely";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  BudgetScopeKind,
  BudgetStatusLevel,
  CostTrend,
  EventStatus,
  type CostTrackingError,
} from "../../client/index.js";
import { foldRollups } from "../../src/aggregation/rollup-folder.js";
import { ENGINES } from "../support/database.js";
import { fixedClock, startTestService, type TestService } from "../support/service.js";

const at = (iso: string) => ({ seconds: String(Math.floor(Date.parse(iso) / 1000)), nanos: 0 });
const DOLLAR_MODEL = "dollar-per-mtok";

describe.each(ENGINES)("dashboard payloads and budgets on %s", (engine) => {
  let t: TestService;
  const clock = fixedClock("2025-03-20T12:00:00Z");

  beforeAll(async () => {
    t = await startTestService(engine, { clock, config: { rollupFoldIntervalMs: 3_600_000 } });
    await sql`insert into model_price (id, model, provider, effective_from, input_usd_per_mtok, output_usd_per_mtok, source)
              values ('00000000-0000-7000-8000-0000000000d1', ${DOLLAR_MODEL}, 'testco', '1970-01-01T00:00:00Z', 1, 1, 'test')`.execute(
      t.database.db,
    );
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    clock.set("2025-03-20T12:00:00Z");
    await sql`truncate ledger_event`.execute(t.database.db);
    await sql`delete from budget`.execute(t.database.db);
  });

  const spend = (iso: string, dollars: string, over: Record<string, unknown> = {}) =>
    t.client.trackApiCall({
      model: DOLLAR_MODEL,
      provider: "testco",
      usage: { inputTokens: String(Math.round(Number(dollars) * 1_000_000)), outputTokens: "0" },
      status: EventStatus.EVENT_STATUS_SUCCEEDED,
      callTime: at(iso),
      ...over,
    });
  const fold = () => foldRollups(t.database.db);

  it("summarises today, the rolling week and the month, with tasks, average per task and shares per operation and model", async () => {
    await spend("2025-03-20T01:00:00Z", "0.00875", { taskId: "t1", operation: "draft" });
    await spend("2025-03-20T02:00:00Z", "0.0035", { taskId: "t1", operation: "refine", status: EventStatus.EVENT_STATUS_FAILED });
    await spend("2025-03-14T02:00:00Z", "0.01", { taskId: "t2", operation: "draft" }); // in the week (6 days ago)
    await spend("2025-03-02T02:00:00Z", "1", { taskId: "t3", operation: "research", userId: "ann" }); // this month only
    await spend("2025-02-27T02:00:00Z", "50", { taskId: "t4", operation: "draft" }); // last month
    await fold();
    await spend("2025-03-20T03:00:00Z", "0.001", { operation: "draft" }); // after the fold, no task

    const summary = await t.client.getCostSummary({});
    expect(summary).toMatchObject({
      todayCostUsd: "0.01325", // sub-cent amounts are not rounded to $0.01
      weekCostUsd: "0.02325",
      monthCostUsd: "1.02325",
      taskCount: "3",
      averageCostPerTaskUsd: "0.341083", // 1.02325 / 3, rounded half-even to 6 places
      period: "month",
    });
    expect(summary.byOperation.map((s) => [s.key, s.totals?.costUsd, s.percentOfTotal])).toEqual([
      ["research", "1", "97.73"],
      ["draft", "0.01975", "1.93"],
      ["refine", "0.0035", "0.34"],
    ]);
    expect(summary.byModel.map((s) => [s.key, s.percentOfTotal])).toEqual([[DOLLAR_MODEL, "100"]]);

    // The user filter is honoured (the old service accepted it and ignored it).
    const ann = await t.client.getCostSummary({ userId: "ann", period: "today" });
    expect(ann).toMatchObject({ todayCostUsd: "0", monthCostUsd: "1", taskCount: "0", averageCostPerTaskUsd: "0" });

    // "today" follows the caller's zone: 2025-03-20 in Tokyo began at 2025-03-19T15:00Z.
    await spend("2025-03-19T16:00:00Z", "2");
    const tokyo = await t.client.getCostSummary({ timeZone: "Asia/Tokyo", period: "today" });
    expect(tokyo.todayCostUsd).toBe("2.01325");
  });

  it("returns every day of the history, zero days included, with the exact total and the legacy trend", async () => {
    await spend("2025-03-14T10:00:00Z", "0.001", { taskId: "a" });
    await spend("2025-03-14T11:00:00Z", "0.002", { taskId: "b" });
    await spend("2025-03-19T10:00:00Z", "0.004", { taskId: "a" });
    await fold();
    await spend("2025-03-20T10:00:00Z", "0.008", { taskId: "c" });
    const week = await t.client.getCostHistory({ period: "week" });
    expect(week.days.map((d) => [d.date, d.costUsd, d.taskCount])).toEqual([
      ["2025-03-14", "0.003", "2"],
      ["2025-03-15", "0", "0"],
      ["2025-03-16", "0", "0"],
      ["2025-03-17", "0", "0"],
      ["2025-03-18", "0", "0"],
      ["2025-03-19", "0.004", "1"],
      ["2025-03-20", "0.008", "1"],
    ]);
    expect(week.days[0]!.averageCostPerTaskUsd).toBe("0.0015");
    expect(week.totalCostUsd).toBe("0.015");
    expect(week.weeklyAverageUsd).toBe("0.015");
    // first half (3 days) mean 0.001, second half (4 days) mean 0.003: up. Rounded to cents both would be 0.
    expect(week.trend).toBe(CostTrend.COST_TREND_UP);

    const month = await t.client.getCostHistory({ period: "month" });
    expect(month.days).toHaveLength(20);
    expect(month.days[0]!.date).toBe("2025-03-01");
    expect(month.trend).toBe(CostTrend.COST_TREND_UP);

    const single = await t.client.getCostHistory({ days: 1 });
    expect(single.days.map((d) => d.costUsd)).toEqual(["0.008"]);
    expect(single.trend).toBe(CostTrend.COST_TREND_STABLE);
  });

  it("has 23-hour and 25-hour days in a New York history across the DST changes, and the days add up", async () => {
    clock.set("2025-11-03T12:00:00Z");
    await spend("2025-03-09T04:30:00Z", "1"); // Mar 8 local
    await spend("2025-03-10T03:30:00Z", "2"); // Mar 9 local, 23:30 EDT
    await spend("2025-11-02T05:30:00Z", "4"); // Nov 2 local, 01:30 EDT
    await spend("2025-11-02T06:30:00Z", "8"); // Nov 2 local, 01:30 EST
    await fold();
    const history = await t.client.getCostHistory({ days: 366, timeZone: "America/New_York" });
    const find = (date: string) => history.days.find((d) => d.date === date)!;
    const hours = (date: string) => {
      const i = history.days.findIndex((d) => d.date === date);
      return (Number(history.days[i + 1]!.startTime!.seconds) - Number(history.days[i]!.startTime!.seconds)) / 3600;
    };
    expect([find("2025-03-08").costUsd, find("2025-03-09").costUsd, find("2025-11-02").costUsd]).toEqual(["1", "2", "12"]);
    expect([hours("2025-03-09"), hours("2025-11-02"), hours("2025-06-01")]).toEqual([23, 25, 24]);
    expect(history.totalCostUsd).toBe("15");
  });

  it("stores budgets per scope and reports spending against them with the 80/90/100% thresholds", async () => {
    // given: the default budget applies until one is set
    const initial = await t.client.getBudgetStatus({});
    expect(initial).toMatchObject({
      defaultBudget: true,
      spentUsd: "0",
      remainingUsd: "150",
      status: BudgetStatusLevel.BUDGET_STATUS_LEVEL_HEALTHY,
      daysInMonth: 31,
      daysElapsed: 20,
      daysRemaining: 11,
    });
    expect(initial.budget?.monthlyLimitUsd).toBe("150");

    await t.client.setBudget({ scope: { kind: BudgetScopeKind.BUDGET_SCOPE_KIND_GLOBAL }, monthlyLimitUsd: "100" });
    await t.client.setBudget({ scope: { kind: BudgetScopeKind.BUDGET_SCOPE_KIND_USER, id: "ann" }, monthlyLimitUsd: "10.50" });
    await t.client.setBudget({ scope: { kind: BudgetScopeKind.BUDGET_SCOPE_KIND_AGENT, id: "writer" }, monthlyLimitUsd: "20", timeZone: "Asia/Kolkata" });
    const listed = await t.client.listBudgets();
    expect(listed.budgets.map((b) => [b.scope?.kind, b.scope?.id, b.monthlyLimitUsd, b.timeZone])).toEqual([
      [BudgetScopeKind.BUDGET_SCOPE_KIND_GLOBAL, "", "100", "UTC"],
      [BudgetScopeKind.BUDGET_SCOPE_KIND_USER, "ann", "10.5", "UTC"],
      [BudgetScopeKind.BUDGET_SCOPE_KIND_AGENT, "writer", "20", "Asia/Kolkata"],
    ]);

    // when: spending reaches 82.5% globally, 100%+ for ann, 90% for the writer
    await spend("2025-03-05T00:00:00Z", "62.5", { userId: "bob" });
    await spend("2025-03-06T00:00:00Z", "11", { userId: "ann" });
    await spend("2025-03-07T00:00:00Z", "9", { agentId: "writer" });
    await fold();
    const global = await t.client.getBudgetStatus({ scope: { kind: BudgetScopeKind.BUDGET_SCOPE_KIND_GLOBAL } });
    expect(global).toMatchObject({
      defaultBudget: false,
      spentUsd: "82.5",
      remainingUsd: "17.5",
      overspentUsd: "0",
      percentUsed: "82.5",
      dailyBurnRateUsd: "4.125", // 82.5 / 20 days (today counts)
      projectedMonthEndUsd: "127.875", // 4.125 x 31 real days
      projectedOverBudget: true,
      status: BudgetStatusLevel.BUDGET_STATUS_LEVEL_WARNING,
    });
    expect(global.alerts.map((a) => [a.level, a.thresholdPercent, a.currentPercent, a.projection, a.message])).toEqual([
      [BudgetStatusLevel.BUDGET_STATUS_LEVEL_WARNING, 80, "82.5", false, "Approaching budget limit at 82.5%"],
      [BudgetStatusLevel.BUDGET_STATUS_LEVEL_WARNING, 100, "127.88", true, "Projected monthly cost $127.88 exceeds budget"],
    ]);

    // Over budget: remaining stays at 0 and the overspend is its own field, so a dashboard never breaks.
    const ann = await t.client.getBudgetStatus({ scope: { kind: BudgetScopeKind.BUDGET_SCOPE_KIND_USER, id: "ann" } });
    expect(ann).toMatchObject({
      spentUsd: "11",
      remainingUsd: "0",
      overspentUsd: "0.5",
      percentUsed: "104.76",
      percentUsedCapped: "100",
      status: BudgetStatusLevel.BUDGET_STATUS_LEVEL_CRITICAL,
    });
    expect(ann.alerts[0]!.message).toBe("Budget exceeded! Spent $11.00 of $10.50");

    const writer = await t.client.getBudgetStatus({ scope: { kind: BudgetScopeKind.BUDGET_SCOPE_KIND_AGENT, id: "writer" } });
    expect(writer).toMatchObject({ percentUsed: "45", status: BudgetStatusLevel.BUDGET_STATUS_LEVEL_HEALTHY });
    await spend("2025-03-08T00:00:00Z", "9", { agentId: "writer" });
    const writer90 = await t.client.getBudgetStatus({ scope: { kind: BudgetScopeKind.BUDGET_SCOPE_KIND_AGENT, id: "writer" } });
    expect(writer90).toMatchObject({ percentUsed: "90", status: BudgetStatusLevel.BUDGET_STATUS_LEVEL_WARNING });
    expect(writer90.alerts[0]!.message).toBe("90% of monthly budget used ($18.00)");

    // then: deleting falls back to the default; deleting again is a no-op
    expect((await t.client.deleteBudget({ scope: { kind: BudgetScopeKind.BUDGET_SCOPE_KIND_USER, id: "ann" } })).deleted).toBe(true);
    expect((await t.client.deleteBudget({ scope: { kind: BudgetScopeKind.BUDGET_SCOPE_KIND_USER, id: "ann" } })).deleted).toBe(false);
    const fallback = await t.client.getBudgetStatus({ scope: { kind: BudgetScopeKind.BUDGET_SCOPE_KIND_USER, id: "ann" } });
    expect(fallback).toMatchObject({ defaultBudget: true, remainingUsd: "139", status: BudgetStatusLevel.BUDGET_STATUS_LEVEL_HEALTHY });
  });

  it("projects from the 1st without dividing by zero, over the real length of February", async () => {
    clock.set("2025-02-01T06:00:00Z");
    await spend("2025-02-01T01:00:00Z", "10");
    const status = await t.client.getBudgetStatus({});
    expect(status).toMatchObject({
      daysInMonth: 28,
      daysElapsed: 1,
      daysRemaining: 27,
      dailyBurnRateUsd: "10",
      projectedMonthEndUsd: "280",
      projectedOverBudget: true,
      status: BudgetStatusLevel.BUDGET_STATUS_LEVEL_HEALTHY,
    });
  });

  it.each([
    ["setBudget", { scope: { kind: BudgetScopeKind.BUDGET_SCOPE_KIND_USER }, monthlyLimitUsd: "10" }, "scope.id"],
    ["setBudget", { scope: { kind: BudgetScopeKind.BUDGET_SCOPE_KIND_GLOBAL }, monthlyLimitUsd: "0" }, "monthly_limit_usd"],
    ["setBudget", { scope: { kind: BudgetScopeKind.BUDGET_SCOPE_KIND_GLOBAL }, monthlyLimitUsd: "-5" }, "monthly_limit_usd"],
    ["setBudget", { monthlyLimitUsd: "5" }, "scope.kind"],
    ["setBudget", { scope: { kind: BudgetScopeKind.BUDGET_SCOPE_KIND_GLOBAL }, monthlyLimitUsd: "5", timeZone: "Nowhere/City" }, "time_zone"],
    ["getCostSummary", { period: "fortnight" }, "period"],
    ["getCostSummary", { timeZone: "Mars/Base" }, "time_zone"],
    ["getCostHistory", { period: "today" }, "period"],
    ["getCostHistory", { days: 400 }, "days"],
  ] as const)("refuses %s %j with INVALID_ARGUMENT naming %s", async (method, request, field) => {
    const call = t.client[method] as (r: unknown) => Promise<unknown>;
    const error = (await call(request).catch((e: unknown) => e)) as CostTrackingError;
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.fieldViolations.map((v) => v.field)).toEqual([field]);
  });
});
