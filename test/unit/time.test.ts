import { describe, expect, it } from "vitest";
import { epochOfInstant, instantFromDate, instantFromEpoch, instantFromPg } from "../../src/time.js";

describe("instants", () => {
  it("keeps microseconds and drops sub-microsecond nanos", () => {
    expect(instantFromEpoch(1700158546n, 680_000_123)).toBe("2023-11-16T18:15:46.680000Z");
    expect(instantFromEpoch(0n, 999_999_999)).toBe("1970-01-01T00:00:00.999999Z");
  });

  it("refuses out-of-range seconds and nanos", () => {
    expect(instantFromEpoch(253402300800n, 0)).toBeUndefined();
    expect(instantFromEpoch(0n, 1_000_000_000)).toBeUndefined();
    expect(instantFromEpoch(0n, -1)).toBeUndefined();
  });

  it("reads PostgreSQL's UTC text form", () => {
    expect(instantFromPg("2023-11-16 18:15:46.68+00")).toBe("2023-11-16T18:15:46.680000Z");
    expect(instantFromPg("2025-03-09 05:00:00+00")).toBe("2025-03-09T05:00:00.000000Z");
    expect(epochOfInstant("2025-03-09 00:00:00-05")).toEqual({ seconds: 1741496400n, nanos: 0 });
    expect(epochOfInstant("1969-12-31T23:59:59.5Z")).toEqual({ seconds: -1n, nanos: 500_000_000 });
  });

  it("formats Dates with six fractional digits", () => {
    expect(instantFromDate(new Date("2026-12-03T14:00:00.123Z"))).toBe("2026-12-03T14:00:00.123000Z");
  });
});
