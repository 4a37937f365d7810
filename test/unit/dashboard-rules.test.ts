import { describe, expect, it } from "vitest";
import { divideMoney, percentOf } from "../../src/aggregation/aggregation.service.js";
import { daysInMonth, localDate } from "../../src/aggregation/calendar.js";
import { trendOf } from "../../src/aggregation/dashboard.service.js";
import { measureBudget } from "../../src/budgets/budget.service.js";
import { Money } from "../../src/money.js";

const m = (values: string[]) => values.map((v) => new Money(v));
const budget = (limit: string) => ({ scope: { kind: "global" as const, id: "" }, monthlyLimitUsd: limit, timeZone: "UTC", updatedAt: undefined });

describe("trendOf (the legacy rule on exact costs)", () => {
  it.each([
    [[], "stable"],
    [["5"], "stable"],
    [["1", "1.1"], "stable"], // exactly +10% is not "up"
    [["1", "1.1000001"], "up"],
    [["1", "0.9"], "stable"],
    [["1", "0.8999999"], "down"],
    [["0", "0"], "stable"],
    [["0", "0.000001"], "up"],
    [["0.004", "0.004", "0.006"], "up"], // halves [0.004] and [0.004, 0.006]: mean 0.005 > 1.1 x 0.004
  ] as const)("%j is %s", (costs, trend) => {
    expect(trendOf(m([...costs]))).toBe(trend);
  });

  it("does not lose a trend to rounding: sub-cent days that round to $0.00 still trend", () => {
    expect(trendOf(m(["0.001", "0.001", "0.003", "0.003"]))).toBe("up");
  });
});

describe("percentOf and divideMoney", () => {
  it("round half-even only at the end", () => {
    expect(percentOf("1", new Money("3"))).toBe("33.33");
    expect(percentOf("2", new Money("3"))).toBe("66.67");
    expect(percentOf("0.125", new Money("1000"))).toBe("0.01"); // 0.0125 -> 0.01 (half-even)
    expect(percentOf("5", new Money("0"))).toBe("0");
    expect(divideMoney("1", 3)).toBe("0.333333");
    expect(divideMoney("0.0000005", 1)).toBe("0"); // half-even: 0.0000005 -> 0.000000
    expect(divideMoney("0.0000015", 1)).toBe("0.000002");
    expect(divideMoney("5", 0)).toBe("0");
  });
});

describe("calendar", () => {
  it("knows the real length of months and the local date", () => {
    expect([daysInMonth(2024, 2), daysInMonth(2025, 2), daysInMonth(2025, 4), daysInMonth(2025, 12)]).toEqual([29, 28, 30, 31]);
    expect(localDate(new Date("2025-03-31T20:00:00Z"), "Asia/Kolkata")).toEqual({ year: 2025, month: 4, day: 1 });
    expect(localDate(new Date("2025-03-01T03:00:00Z"), "America/New_York")).toEqual({ year: 2025, month: 2, day: 28 });
  });
});

describe("measureBudget", () => {
  it("is healthy below 80%, warns from 80% and 90%, is critical from 100%", () => {
    const level = (spent: string) => measureBudget(budget("100"), new Money(spent), 30, 30).status;
    expect([level("79.999999"), level("80"), level("89.99"), level("90"), level("99.9999999"), level("100"), level("250")]).toEqual([
      "healthy", "warning", "warning", "warning", "warning", "critical", "critical",
    ]);
  });

  it("adds the projection warning above 110% of the budget without changing the status", () => {
    const status = measureBudget(budget("150"), new Money("10"), 31, 2); // 5/day x 31 = 155 <= 165
    expect(status.projectedOverBudget).toBe(false);
    const over = measureBudget(budget("150"), new Money("11"), 31, 2); // 5.5/day x 31 = 170.5 > 165
    expect(over).toMatchObject({ projectedOverBudget: true, status: "healthy", projectedMonthEndUsd: "170.5", dailyBurnRateUsd: "5.5" });
    expect(over.alerts).toEqual([
      { level: "warning", message: "Projected monthly cost $170.50 exceeds budget", thresholdPercent: 100, currentPercent: "113.67", projection: true },
    ]);
  });

  it("never reports a negative remainder, and says how much is overspent", () => {
    expect(measureBudget(budget("150"), new Money("150.000001"), 30, 30)).toMatchObject({
      remainingUsd: "0",
      overspentUsd: "0.000001",
      percentUsedCapped: "100",
      status: "critical",
    });
  });
});
