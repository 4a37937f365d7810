import { Decimal } from "decimal.js";

/**
 * The one Decimal configuration for money. 60 significant digits hold any sum of `numeric` costs this ledger can
 * store without rounding (decimal.js silently rounds to 20 digits by default), and the exponent limits make
 * `toString()` never switch to exponent notation.
 */
export const Money = Decimal.clone({
  precision: 60,
  rounding: Decimal.ROUND_HALF_EVEN,
  toExpNeg: -100,
  toExpPos: 100,
});
export type Money = Decimal;

/** The largest number of decimal places a rate or cost may carry (per-million rates times whole tokens). */
export const MAX_MONEY_SCALE = 18;

const DECIMAL_PATTERN = /^(?:0|[1-9]\d*)(?:\.\d+)?$/;

/** Parses a non-negative decimal string without exponent (the wire form of money); undefined when malformed. */
export function parseMoney(text: string): Money | undefined {
  if (!DECIMAL_PATTERN.test(text)) return undefined;
  return new Money(text);
}

/** Formats money exactly, without exponent and without trailing zeros: "5.8074795", "0". */
export function formatMoney(value: Money): string {
  return value.toFixed();
}

/** The exact sum of money values (strings from the database or Money). */
export function sumMoney(values: Iterable<Money | string>): Money {
  let total = new Money(0);
  for (const value of values) total = total.plus(value);
  return total;
}
