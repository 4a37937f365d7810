import { describe, expect, it } from "vitest";
import { chooseRollup, grainFor, hasWholeHourOffsets, planRange } from "../../src/aggregation/rollups.js";

describe("chooseRollup", () => {
  it("picks the smallest rollup that holds every dimension a question uses, or none", () => {
    expect(chooseRollup([])?.table).toBe("rollup_status");
    expect(chooseRollup(["status"])?.table).toBe("rollup_status");
    expect(chooseRollup(["model"])?.table).toBe("rollup_provider_model");
    expect(chooseRollup(["provider", "model", "status"])?.table).toBe("rollup_provider_model");
    expect(chooseRollup(["agent"])?.table).toBe("rollup_agent");
    expect(chooseRollup(["task", "status"])?.table).toBe("rollup_task");
    expect(chooseRollup(["user"])).toBeUndefined();
    expect(chooseRollup(["agent", "model"])).toBeUndefined();
    expect(chooseRollup(["agent_execution"])).toBeUndefined();
  });
});

describe("planRange", () => {
  it("reads whole hours from hour buckets, the ragged quarters from 15-minute buckets and the rest from raw rows", () => {
    const plan = planRange("2025-03-01T10:05:00.000000Z", "2025-03-02T07:50:30.000000Z", 3600);
    expect(plan.pieces).toEqual([
      { grain: 900, from: "2025-03-01T10:15:00.000000Z", to: "2025-03-01T11:00:00.000000Z" },
      { grain: 3600, from: "2025-03-01T11:00:00.000000Z", to: "2025-03-02T07:00:00.000000Z" },
      { grain: 900, from: "2025-03-02T07:00:00.000000Z", to: "2025-03-02T07:45:00.000000Z" },
    ]);
    expect(plan.rawEdges).toEqual([
      { start: "2025-03-01T10:05:00.000000Z", end: "2025-03-01T10:15:00.000000Z" },
      { start: "2025-03-02T07:45:00.000000Z", end: "2025-03-02T07:50:30.000000Z" },
    ]);
  });

  it("reads whole UTC days from day buckets in the middle of a long range", () => {
    const plan = planRange("2025-03-01T22:30:00.000000Z", "2025-03-04T01:07:00.000000Z", 86400);
    expect(plan.pieces).toEqual([
      { grain: 900, from: "2025-03-01T22:30:00.000000Z", to: "2025-03-01T23:00:00.000000Z" },
      { grain: 3600, from: "2025-03-01T23:00:00.000000Z", to: "2025-03-02T00:00:00.000000Z" },
      { grain: 86400, from: "2025-03-02T00:00:00.000000Z", to: "2025-03-04T00:00:00.000000Z" },
      { grain: 3600, from: "2025-03-04T00:00:00.000000Z", to: "2025-03-04T01:00:00.000000Z" },
    ]);
    expect(plan.rawEdges).toEqual([{ start: "2025-03-04T01:00:00.000000Z", end: "2025-03-04T01:07:00.000000Z" }]);
    expect(planRange(undefined, undefined, 86400).pieces).toEqual([{ grain: 86400, from: undefined, to: undefined }]);
  });

  it("keeps to 15-minute buckets when asked (zones such as +05:45)", () => {
    const plan = planRange("2025-03-01T00:00:00.000000Z", "2025-03-01T06:00:00.000000Z", 900);
    expect(plan).toEqual({ pieces: [{ grain: 900, from: "2025-03-01T00:00:00.000000Z", to: "2025-03-01T06:00:00.000000Z" }], rawEdges: [] });
  });

  it("handles open ends and ranges shorter than a bucket", () => {
    expect(planRange(undefined, undefined, 3600)).toEqual({ pieces: [{ grain: 3600, from: undefined, to: undefined }], rawEdges: [] });
    expect(planRange("2025-03-01T00:00:00.000001Z", undefined, 3600).pieces).toEqual([
      { grain: 900, from: "2025-03-01T00:15:00.000000Z", to: "2025-03-01T01:00:00.000000Z" },
      { grain: 3600, from: "2025-03-01T01:00:00.000000Z", to: undefined },
    ]);
    expect(planRange("2025-03-01T00:01:00.000000Z", "2025-03-01T00:14:00.000000Z", 3600)).toEqual({
      pieces: [],
      rawEdges: [{ start: "2025-03-01T00:01:00.000000Z", end: "2025-03-01T00:14:00.000000Z" }],
    });
    expect(planRange("2025-03-01T00:20:00.000000Z", "2025-03-01T00:50:00.000000Z", 3600).pieces).toEqual([
      { grain: 900, from: "2025-03-01T00:30:00.000000Z", to: "2025-03-01T00:45:00.000000Z" },
    ]);
  });
});

describe("hasWholeHourOffsets", () => {
  it.each([
    ["UTC", true],
    ["America/New_York", true],
    ["Europe/Paris", true],
    ["Asia/Kolkata", false],
    ["Asia/Kathmandu", false],
    ["Australia/Lord_Howe", false],
    ["America/St_Johns", false],
  ])("%s: %s", (zone, whole) => {
    expect(hasWholeHourOffsets(zone)).toBe(whole);
    expect(grainFor("hour", zone)).toBe(whole ? 3600 : 900);
    expect(grainFor("day", zone)).toBe(zone === "UTC" ? 86400 : whole ? 3600 : 900);
    expect(grainFor(undefined, zone)).toBe(86400);
  });
});
