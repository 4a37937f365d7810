import { describe, expect, it } from "vitest";
import { addMonths, monthOf, monthStart, retentionHorizon } from "../../src/ledger/partitions.js";

describe("ledger months", () => {
  it("names an instant's UTC month and steps across years both ways", () => {
    expect(monthOf("2026-12-31T23:59:59.999999Z")).toBe("2026-12");
    expect(addMonths("2026-12", 1)).toBe("2027-01");
    expect(addMonths("2026-01", -1)).toBe("2025-12");
    expect(addMonths("2026-03", -27)).toBe("2023-12");
    expect(monthStart("2027-02")).toBe("2027-02-01T00:00:00.000000Z");
  });

  it("puts the retention horizon at the start of the month N months back (12 on 2026-12-03: 2025-12-01)", () => {
    expect(retentionHorizon(new Date("2026-12-03T16:00:00Z"), 12)).toBe("2025-12-01T00:00:00.000000Z");
    expect(retentionHorizon(new Date("2026-03-31T23:59:59Z"), 1)).toBe("2026-02-01T00:00:00.000000Z");
    // A UTC month: 2026-04-01T00:30+02:00 is still March in UTC.
    expect(retentionHorizon(new Date("2026-04-01T00:30:00+02:00"), 0)).toBe("2026-03-01T00:00:00.000000Z");
  });
});
