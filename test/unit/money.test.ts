import { describe, expect, it } from "vitest";
import { Money, formatMoney, parseMoney, sumMoney } from "../../src/money.js";

describe("money", () => {
  it("keeps more than decimal.js's default 20 significant digits", () => {
    expect(formatMoney(new Money("0.3").plus("9999999999.9999999999"))).toBe("10000000000.2999999999");
  });

  it("never formats with an exponent or trailing zeros", () => {
    expect(formatMoney(new Money("0.000000000000000001"))).toBe("0.000000000000000001");
    expect(formatMoney(new Money("5.80747950000"))).toBe("5.8074795");
    expect(formatMoney(new Money("1e21"))).toBe("1000000000000000000000");
  });

  it("adds ten calls of $0.0001 to exactly $0.001", () => {
    expect(formatMoney(sumMoney(Array(10).fill("0.0001")))).toBe("0.001");
  });

  it("parses only plain non-negative decimals", () => {
    expect(parseMoney("0.001615")?.toFixed()).toBe("0.001615");
    for (const bad of ["-1", "1e-3", "", ".5", "01", "1.", "NaN", "0x10"]) expect(parseMoney(bad)).toBeUndefined();
  });
});
