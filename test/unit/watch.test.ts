import { describe, expect, it } from "vitest";
import { budgetCrossings, budgetState, type BudgetState } from "../../src/streaming/budget.js";
import { parsePayload } from "../../src/streaming/change-feed.js";
import { watchQueryFromProto } from "../../src/streaming/watch.rpc.js";
import { ComputeGate } from "../../src/streaming/watch.service.js";
import { WatchStatsRequest, type DeepPartial } from "../../gen/costtracking/v1/watch.js";
import { Money } from "../../src/money.js";
import { ValidationError } from "../../src/errors.js";

const march = { monthStart: "2025-03-01T00:00:00.000000Z", monthEnd: "2025-04-01T00:00:00.000000Z" };
const state = (spent: string, now = "2025-03-16T12:00:00Z", budget = "150"): BudgetState =>
  budgetState({ scope: { kind: "global" }, budget: new Money(budget), spent: new Money(spent), ...march, now: new Date(now) });

describe("budget state", () => {
  it("projects the month from the average per started day over the month's real length", () => {
    // 16 days started in March (31 days): 123 / 16 x 31
    expect(state("123")).toMatchObject({ projectedMonthEndUsd: "238.3125", projectionWarning: true, level: "warning", reached: ["80", "projection"] });
    // On the 1st, the one day started counts: 5 x 31
    expect(state("5", "2025-03-01T00:30:00Z")).toMatchObject({ projectedMonthEndUsd: "155", projectionWarning: false });
  });

  it("has 31 days in a March that changes to daylight-saving time", () => {
    const paris = budgetState({
      scope: { kind: "global" },
      budget: new Money(150),
      spent: new Money(31),
      monthStart: "2025-02-28T23:00:00.000000Z",
      monthEnd: "2025-03-31T22:00:00.000000Z",
      now: new Date("2025-03-01T10:00:00Z"),
    });
    expect(paris.projectedMonthEndUsd).toBe("961");
  });

  it("uses the legacy thresholds: warning from 80%, critical from 100%", () => {
    expect(state("119.99", "2025-03-31T12:00:00Z").level).toBe("healthy");
    expect(state("120", "2025-03-31T12:00:00Z")).toMatchObject({ level: "warning", reached: ["80"] });
    expect(state("135", "2025-03-31T12:00:00Z").reached).toEqual(["80", "90"]);
    expect(state("150", "2025-03-31T12:00:00Z")).toMatchObject({ level: "critical", percentUsed: 100, reached: ["80", "90", "100"] });
  });

  it("treats any spending against a zero budget as over it", () => {
    expect(state("0.01", "2025-03-31T12:00:00Z", "0")).toMatchObject({ level: "critical", percentUsed: Infinity });
    expect(state("0", "2025-03-31T12:00:00Z", "0").level).toBe("healthy");
  });
});

describe("budget crossings", () => {
  it("alerts nothing for the first state, whatever it is", () => {
    expect(budgetCrossings(undefined, state("149"))).toEqual([]);
  });

  it("alerts every threshold a jump passes over, lowest first", () => {
    const alerts = budgetCrossings(state("10", "2025-03-31T12:00:00Z"), state("151", "2025-03-31T12:00:00Z"));
    expect(alerts.map((a) => a.threshold)).toEqual(["80", "90", "100"]);
    expect(alerts[2]!.message).toBe("Budget exceeded! Spent $151.00 of $150.00");
  });

  it("alerts a threshold again after it was left (a new month)", () => {
    const high = state("130", "2025-03-31T12:00:00Z");
    const newMonth = state("0", "2025-03-31T12:00:00Z");
    expect(budgetCrossings(high, newMonth)).toEqual([]);
    expect(budgetCrossings(newMonth, high).map((a) => a.threshold)).toEqual(["80"]);
  });
});

describe("change notices", () => {
  it("reads the NOTIFY payload, and treats anything unreadable as a resync", () => {
    expect(parsePayload('{"n":3,"from":"2025-03-01T00:00:00.000000Z","to":"2025-03-02T00:00:00.000000Z"}')).toEqual({
      kind: "events",
      count: 3,
      earliest: "2025-03-01T00:00:00.000000Z",
      latest: "2025-03-02T00:00:00.000000Z",
    });
    expect(parsePayload("garbage")).toEqual({ kind: "resync" });
    expect(parsePayload(undefined)).toEqual({ kind: "resync" });
  });
});

describe("watch requests", () => {
  const query = (partial: DeepPartial<WatchStatsRequest>) => watchQueryFromProto(WatchStatsRequest.fromPartial(partial));

  it("defaults to one snapshot per second, a heartbeat every 15 s and 100 groups", () => {
    expect(query({})).toMatchObject({ minIntervalMs: 1000, heartbeatMs: 15_000, groupLimit: 100, range: { kind: "filter" }, timeZone: "UTC" });
  });

  it("raises intervals below their floors instead of refusing them", () => {
    expect(query({ minInterval: { seconds: "0", nanos: 1_000_000 }, heartbeatInterval: { seconds: "0", nanos: 5_000_000 } })).toMatchObject({
      minIntervalMs: 100,
      heartbeatMs: 1000,
    });
  });

  it("takes a rolling window in seconds, or a range word", () => {
    expect(query({ window: { seconds: "300", nanos: 0 } }).range).toEqual({ kind: "rolling", seconds: 300 });
    expect(query({ period: "24h" }).range).toEqual({ kind: "period", period: "last_24h" });
  });

  it("refuses negative durations and windows out of range, naming the field", () => {
    const fields = (partial: DeepPartial<WatchStatsRequest>) => {
      try {
        query(partial);
        return [];
      } catch (error) {
        return (error as ValidationError).violations.map((v) => v.field);
      }
    };
    expect(fields({ minInterval: { seconds: "-1", nanos: 0 } })).toEqual(["min_interval"]);
    expect(fields({ window: { seconds: "0", nanos: 500_000_000 } })).toEqual(["window"]);
    expect(fields({ heartbeatInterval: { seconds: "301", nanos: 0 } })).toEqual(["heartbeat_interval"]);
  });
});

describe("compute gate", () => {
  it("runs one computation at a time, first come first served, resting twice as long as the last one took", async () => {
    const gate = new ComputeGate(2);
    const events: Array<[string, number]> = [];
    let running = 0;
    let mostRunning = 0;
    const work = (name: string, millis: number) =>
      gate.run(async () => {
        mostRunning = Math.max(mostRunning, ++running);
        events.push([`start ${name}`, performance.now()]);
        await new Promise((r) => setTimeout(r, millis));
        events.push([`end ${name}`, performance.now()]);
        running--;
        return name;
      });
    expect(await Promise.all([work("a", 30), work("b", 10), work("c", 5)])).toEqual(["a", "b", "c"]);
    expect(mostRunning).toBe(1);
    expect(events.map(([e]) => e)).toEqual(["start a", "end a", "start b", "end b", "start c", "end c"]);
    const at = (e: string) => events.find(([name]) => name === e)![1];
    // The rest is a lower bound (timers never fire more than a millisecond early); it is not a speed claim.
    expect(at("start b") - at("end a")).toBeGreaterThanOrEqual(2 * 30 - 2);
    expect(at("start c") - at("end b")).toBeGreaterThanOrEqual(2 * 10 - 2);
  });

  it("goes on after a computation fails", async () => {
    const gate = new ComputeGate(0);
    await expect(gate.run(async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await gate.run(async () => "next")).toBe("next");
  });
});
