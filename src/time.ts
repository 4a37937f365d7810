/**
 * Instants inside the service are ISO-8601 UTC strings with exactly six fractional digits
 * ("2023-11-16T18:15:46.680000Z"): PostgreSQL's own precision, sortable as text, and exact to hash.
 */
export type Instant = string;

/** A clock, injected so tests can fix "now". */
export interface Clock {
  now(): Date;
}
export const systemClock: Clock = { now: () => new Date() };

const MIN_SECONDS = -62_135_596_800n; // 0001-01-01T00:00:00Z
const MAX_SECONDS = 253_402_300_799n; // 9999-12-31T23:59:59Z

/** An instant from epoch seconds and nanoseconds; nanoseconds below a microsecond are dropped. Undefined if out of range. */
export function instantFromEpoch(seconds: bigint, nanos: number): Instant | undefined {
  if (seconds < MIN_SECONDS || seconds > MAX_SECONDS || !Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) {
    return undefined;
  }
  const whole = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  return `${whole}.${String(Math.floor(nanos / 1000)).padStart(6, "0")}Z`;
}

/** An instant from a Date (millisecond precision). */
export function instantFromDate(date: Date): Instant {
  return `${date.toISOString().slice(0, 23)}000Z`;
}

/** Epoch seconds and nanoseconds of an instant, or of PostgreSQL's UTC text form ("2023-11-16 18:15:46.68+00"). */
export function epochOfInstant(text: string): { seconds: bigint; nanos: number } {
  const match = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}(?::?\d{2})?)$/.exec(text);
  if (!match) throw new Error(`not a timestamp: ${text}`);
  const [, date, time, fraction = "", zone] = match;
  const offset = zone === "Z" ? "Z" : zone!.length === 3 ? `${zone}:00` : zone!.replace(/^([+-]\d{2})(\d{2})$/, "$1:$2");
  const millis = Date.parse(`${date}T${time}${offset}`);
  return { seconds: BigInt(millis / 1000), nanos: Number(fraction.padEnd(9, "0")) };
}

/** Normalises PostgreSQL's UTC text form to an Instant. */
export function instantFromPg(text: string): Instant {
  const { seconds, nanos } = epochOfInstant(text);
  return instantFromEpoch(seconds, nanos)!;
}

/** Milliseconds since the epoch of an instant. */
export function millisOfInstant(instant: Instant): number {
  return Date.parse(instant);
}
