import { describe, expect, it } from "vitest";
import { newEventId } from "../../src/ledger/event-id.js";

describe("newEventId", () => {
  it("makes UUIDv7s whose first 48 bits are the given milliseconds", () => {
    const id = newEventId(Date.parse("2025-03-09T18:00:00.123Z"));
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parseInt(id.replace(/-/g, "").slice(0, 12), 16)).toBe(Date.parse("2025-03-09T18:00:00.123Z"));
  });

  it("never repeats, across many refills of its random pool", () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newEventId(0)));
    expect(ids.size).toBe(10_000);
  });
});
