import { epochOfInstant, type Instant } from "../time.js";
import type { Dimension, TimeWindow } from "./event-filter.js";

/**
 * A rollup: the API calls' totals pre-summed per 15-minute and per 1-hour UTC bucket and per value of a few
 * dimensions (see migrations/20261203T152000Z_create_rollups_and_budgets.sql for why it stays exact). Each is keyed
 * to the dimensions of the questions it serves; every rollup also keys by status, so a status filter is served too.
 */
export interface Rollup {
  readonly table: "rollup_status" | "rollup_operation" | "rollup_provider_model" | "rollup_agent" | "rollup_task";
  readonly dimensions: readonly Dimension[];
}

/** Smallest first: a question is served by the first rollup that holds every dimension it groups or filters by. */
export const ROLLUPS: readonly Rollup[] = [
  { table: "rollup_status", dimensions: ["status"] },
  { table: "rollup_operation", dimensions: ["operation", "status"] },
  { table: "rollup_provider_model", dimensions: ["provider", "model", "status"] },
  { table: "rollup_agent", dimensions: ["agent", "status"] },
  { table: "rollup_task", dimensions: ["task", "status"] },
];

/** The rollup that can answer a question using these dimensions, or undefined (then the raw ledger answers). */
export function chooseRollup(needed: readonly Dimension[]): Rollup | undefined {
  return ROLLUPS.find((rollup) => needed.every((d) => rollup.dimensions.includes(d)));
}

/** Bucket sizes of the rollups, in seconds. */
export type Grain = 900 | 3600;
const MICROS = 1_000_000n;
const grainMicros = (grain: Grain) => BigInt(grain) * MICROS;

/** A run of rollup buckets of one grain: bucket_start in [from, to); an undefined bound is unbounded. */
export interface RollupPiece {
  grain: Grain;
  from: Instant | undefined;
  to: Instant | undefined;
}

/** A time range [start, end) of raw rows; an undefined bound is unbounded. */
export interface RawRange {
  start: Instant | undefined;
  end: Instant | undefined;
}

/**
 * How a time range splits between rollups and raw rows: whole 15-minute buckets come from the rollups (whole hours
 * at hour grain when allowed, 15-minute buckets at the ragged edges), and the partial buckets at either end from
 * the raw rows. `pieces` is empty when the range holds no whole 15-minute bucket.
 */
export interface RangePlan {
  pieces: RollupPiece[];
  /** The parts of the range the rollups do not cover: at most a start and an end fragment. */
  rawEdges: RawRange[];
}

export function planRange(start: Instant | undefined, end: Instant | undefined, maxGrain: Grain): RangePlan {
  const s = start === undefined ? undefined : toMicros(start);
  const e = end === undefined ? undefined : toMicros(end);
  const q = grainMicros(900);
  const s1 = s === undefined ? undefined : ceilTo(s, q);
  const e1 = e === undefined ? undefined : floorTo(e, q);
  if (s1 !== undefined && e1 !== undefined && s1 >= e1) return { pieces: [], rawEdges: [{ start, end }] };

  const rawEdges: RawRange[] = [];
  if (s !== undefined && s1! > s) rawEdges.push({ start, end: fromMicros(s1!) });
  if (e !== undefined && e1! < e) rawEdges.push({ start: fromMicros(e1!), end });

  const piece = (grain: Grain, from: bigint | undefined, to: bigint | undefined): RollupPiece => ({
    grain,
    from: from === undefined ? undefined : fromMicros(from),
    to: to === undefined ? undefined : fromMicros(to),
  });
  if (maxGrain === 900) return { pieces: [piece(900, s1, e1)], rawEdges };
  const h = grainMicros(3600);
  const s2 = s1 === undefined ? undefined : ceilTo(s1, h);
  const e2 = e1 === undefined ? undefined : floorTo(e1, h);
  if (s2 !== undefined && e2 !== undefined && s2 >= e2) return { pieces: [piece(900, s1, e1)], rawEdges };
  const pieces = [piece(3600, s2, e2)];
  if (s1 !== undefined && s1 < s2!) pieces.unshift(piece(900, s1, s2));
  if (e1 !== undefined && e2! < e1) pieces.push(piece(900, e2, e1));
  return { pieces, rawEdges };
}

/**
 * The coarsest rollup grain whose buckets nest inside the calendar buckets of a window in a time zone: hours for a
 * zone whose UTC offset is always a whole number of hours (then its hours and days start on UTC hours), otherwise
 * 15 minutes (every zone's offsets since 1970 are multiples of 15 minutes, e.g. +05:30 and +05:45).
 */
export function grainFor(window: TimeWindow | undefined, timeZone: string): Grain {
  if (window === undefined) return 3600;
  return hasWholeHourOffsets(timeZone) ? 3600 : 900;
}

const wholeHourZones = new Map<string, boolean>();

/** True when the zone's offset from UTC is a whole number of hours at every moment from 1970 to 2100. */
export function hasWholeHourOffsets(timeZone: string): boolean {
  let known = wholeHourZones.get(timeZone);
  if (known === undefined) {
    const format = new Intl.DateTimeFormat("en-US", { timeZone, timeZoneName: "longOffset" });
    known = true;
    // Offsets hold for months; sampling every 5 days finds every offset a zone has used since 1970.
    for (let t = 0; t < 4_102_444_800_000 && known; t += 5 * 86_400_000) {
      const name = format.formatToParts(t).find((p) => p.type === "timeZoneName")?.value ?? "GMT";
      known = !/:(?!00)\d\d/.test(name); // "GMT+05:30" is not whole; "GMT", "GMT-05:00" are
    }
    wholeHourZones.set(timeZone, known);
  }
  return known;
}

function toMicros(instant: Instant): bigint {
  const { seconds, nanos } = epochOfInstant(instant);
  return seconds * MICROS + BigInt(Math.floor(nanos / 1000));
}

function fromMicros(micros: bigint): Instant {
  const seconds = micros / MICROS - (micros % MICROS < 0n ? 1n : 0n);
  const rest = micros - seconds * MICROS;
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${String(rest).padStart(6, "0")}Z`;
}

const floorTo = (value: bigint, step: bigint) => value - (((value % step) + step) % step);
const ceilTo = (value: bigint, step: bigint) => {
  const floor = floorTo(value, step);
  return floor === value ? value : floor + step;
};
