import { epochOfInstant, type Instant } from "../time.js";
import type { Dimension, TimeWindow } from "./event-filter.js";

/**
 * A rollup: the API calls' totals pre-summed per 15-minute, 1-hour and 1-day UTC bucket and per value of a few
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

/** Bucket sizes of the rollups, in seconds: 15 minutes, an hour, a UTC day. */
export type Grain = 900 | 3600 | 86400;
const GRAINS: readonly Grain[] = [86400, 3600, 900];
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
 * How a time range splits between rollups and raw rows: whole 15-minute buckets come from the rollups, in the
 * coarsest grain (up to maxGrain) that fits each part - whole days in the middle, hours and quarters towards the
 * ragged ends - and the partial quarters at either end from the raw rows. `pieces` is empty when the range holds
 * no whole 15-minute bucket.
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
  return { pieces: split(s1, e1, GRAINS.filter((g) => g <= maxGrain)), rawEdges };
}

/** Covers [a, b) (quarter-aligned, non-empty) with the coarsest grains first. */
function split(a: bigint | undefined, b: bigint | undefined, grains: readonly Grain[]): RollupPiece[] {
  const piece = (grain: Grain, from: bigint | undefined, to: bigint | undefined): RollupPiece => ({
    grain,
    from: from === undefined ? undefined : fromMicros(from),
    to: to === undefined ? undefined : fromMicros(to),
  });
  const [grain, ...finer] = grains;
  if (finer.length === 0) return [piece(grain!, a, b)];
  const size = grainMicros(grain!);
  const a2 = a === undefined ? undefined : ceilTo(a, size);
  const b2 = b === undefined ? undefined : floorTo(b, size);
  if (a2 !== undefined && b2 !== undefined && a2 >= b2) return split(a, b, finer);
  return [
    ...(a !== undefined && a < a2! ? split(a, a2, finer) : []),
    piece(grain!, a2, b2),
    ...(b !== undefined && b2! < b ? split(b2, b, finer) : []),
  ];
}

/**
 * The coarsest rollup grain whose buckets nest inside the calendar buckets of a window in a time zone: UTC days
 * without a window or for day, week and month windows in a zone that is always at UTC+00:00; hours for a zone whose
 * offset is always a whole number of hours (its hours and days start on UTC hours); otherwise 15 minutes (every
 * zone's offsets since 1970 are multiples of 15 minutes, e.g. +05:30 and +05:45).
 */
export function grainFor(window: TimeWindow | undefined, timeZone: string): Grain {
  if (window === undefined) return 86400;
  const offsets = zoneOffsets(timeZone);
  if (window !== "hour" && offsets.every((o) => o === 0)) return 86400;
  return offsets.every((o) => o % 60 === 0) ? 3600 : 900;
}

/** True when the zone's offset from UTC is a whole number of hours at every moment from 1970 to 2100. */
export function hasWholeHourOffsets(timeZone: string): boolean {
  return zoneOffsets(timeZone).every((o) => o % 60 === 0);
}

const offsetsByZone = new Map<string, number[]>();

/** Every UTC offset (in minutes) a zone has used from 1970 to 2100. */
function zoneOffsets(timeZone: string): number[] {
  let offsets = offsetsByZone.get(timeZone);
  if (offsets === undefined) {
    const format = new Intl.DateTimeFormat("en-US", { timeZone, timeZoneName: "longOffset" });
    const seen = new Set<number>();
    // Offsets hold for months; sampling every 5 days finds every offset a zone has used since 1970.
    for (let t = 0; t < 4_102_444_800_000; t += 5 * 86_400_000) {
      const name = format.formatToParts(t).find((p) => p.type === "timeZoneName")?.value ?? "GMT";
      const match = /GMT([+-])(\d\d):(\d\d)/.exec(name);
      seen.add(match ? (match[1] === "-" ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3])) : 0);
    }
    offsets = [...seen];
    offsetsByZone.set(timeZone, offsets);
  }
  return offsets;
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
