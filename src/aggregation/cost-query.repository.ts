import { sql, type Kysely, type RawBuilder } from "kysely";
import type { Database } from "../db/schema.js";
import { instantFromPg, type Instant } from "../time.js";
import { totalsFromRow } from "./aggregation.repository.js";
import {
  DIMENSION_COLUMN,
  filterDimensions,
  type CostTotals,
  type Dimension,
  type EventFilter,
  type TimeWindow,
} from "./event-filter.js";
import { readWatermark, TOTAL_COLUMNS } from "./rollup.repository.js";
import { chooseRollup, grainFor, planRange, type RangePlan, type Rollup } from "./rollups.js";

/** A calendar window in a time zone. */
export interface ZonedWindow {
  unit: TimeWindow;
  timeZone: string;
}

/** One question: which calls, grouped by which dimensions and/or time buckets. */
export interface CostQuery {
  filter: EventFilter;
  groupBy: readonly Dimension[];
  window?: ZonedWindow | undefined;
  /** At most this many rows (most expensive first, after time order). */
  limit?: number | undefined;
}

export interface CostRow {
  /** The group-by values in groupBy order; "" for a missing value. */
  keys: string[];
  /** The bucket, when the query has a window. */
  bucket?: Bucket;
  totals: CostTotals;
}

/** A calendar bucket of a time zone: [start, end), and its local start with the offset as a label. */
export interface Bucket {
  start: Instant;
  end: Instant;
  label: string;
}

/** What a question reads: a rollup plus the raw rows it does not cover, or the raw ledger alone. */
interface Source {
  rollup: Rollup | undefined;
  plan: RangePlan | undefined;
}

/**
 * Answers a question from the rollups when one holds every dimension it needs, else from the raw ledger. With a
 * rollup, the watermark and the data are read in one REPEATABLE READ snapshot, so each call is counted once:
 * from the rollup if folded, from the raw rows otherwise.
 */
export async function queryCosts(db: Kysely<Database>, query: CostQuery, useRollups: boolean): Promise<CostRow[]> {
  const columns = query.groupBy.map((d) => DIMENSION_COLUMN[d]);
  const source = chooseSource(query.filter, [...query.groupBy], query.window, useRollups);
  return inSnapshot(db, source, async (trx, watermark) => {
    const union = sourceSql(source, query.filter, columns, watermark);
    const keys = columns.map((c, i) => sql`${sql.ref(c)} as ${sql.ref(`k${i}`)}`);
    const bucket = query.window ? bucketStartSql(query.window) : undefined;
    const groupList = [...columns.map((_, i) => sql.ref(`k${i}`)), ...(bucket ? [sql.ref("bucket_start")] : [])];
    const order = [
      ...(bucket ? [sql`bucket_start`] : []),
      sql`cost_usd desc`,
      ...columns.map((_, i) => sql.ref(`k${i}`)),
    ];
    const grouped = sql`
      select ${sql.join([...keys, ...(bucket ? [sql`${bucket} as bucket_start`] : []), ...totalsSums()])}
      from (${union}) as u
      ${groupList.length ? sql`group by ${sql.join(groupList)}` : sql``}
      order by ${sql.join(order)}
      ${query.limit ? sql`limit ${query.limit}` : sql``}`;
    const described = query.window
      ? sql`select g.*, ${bucketDescriptionSql(sql`g.bucket_start`, query.window)} from (${grouped}) as g order by ${sql.join(order)}`
      : grouped;
    const { rows } = await described.execute(trx);
    return (rows as Array<Record<string, string>>).map((row) => ({
      keys: columns.map((_, i) => String(row[`k${i}`] ?? "")),
      ...(query.window ? { bucket: bucketFromRow(row) } : {}),
      totals: totalsFromRow(row as never),
    }));
  });
}

/**
 * The number of distinct tasks with calls that match a filter, per bucket when a window is given (the buckets that
 * have calls only). Calls without a task do not count.
 */
export async function countDistinctTasks(
  db: Kysely<Database>,
  filter: EventFilter,
  window: ZonedWindow | undefined,
  useRollups: boolean,
): Promise<Array<{ bucketStart: Instant | undefined; count: string }>> {
  const source = chooseSource(filter, ["task"], window, useRollups);
  return inSnapshot(db, source, async (trx, watermark) => {
    const union = sourceSql(source, filter, ["task_id"], watermark);
    const bucket = window ? bucketStartSql(window) : undefined;
    const { rows } = await sql<{ bucket_start: string | null; n: string }>`
      select ${bucket ? sql`${bucket}` : sql`null`} as bucket_start, count(distinct task_id) as n
      from (${union}) as u where task_id <> ''
      ${bucket ? sql`group by 1 order by 1` : sql``}`.execute(trx);
    return rows.map((r) => ({ bucketStart: r.bucket_start ? instantFromPg(r.bucket_start) : undefined, count: String(r.n) }));
  });
}

/** Every calendar bucket of a window that overlaps [start, end), in time order. */
export async function listBuckets(db: Kysely<Database>, window: ZonedWindow, start: Instant, end: Instant): Promise<Bucket[]> {
  const { unit, timeZone } = window;
  // Hours are stepped in absolute time (every 15 minutes, so no local hour is skipped or repeated across a DST
  // change); days, weeks and months in local time. Each point is mapped to its bucket exactly as events are.
  const points =
    unit === "hour"
      ? sql`select date_trunc('hour', p, ${timeZone}) as bucket_start
            from generate_series(date_trunc('hour', ${start}::timestamptz, ${timeZone}), ${end}::timestamptz - interval '1 microsecond', interval '15 minutes') as p`
      : sql`select date_trunc(${unit}, p at time zone ${timeZone}, ${timeZone}) as bucket_start
            from generate_series(date_trunc(${unit}, ${start}::timestamptz, ${timeZone}) at time zone ${timeZone},
                                 ${end}::timestamptz at time zone ${timeZone}, ${`1 ${unit}`}::interval) as p`;
  const { rows } = await sql<Record<string, string>>`
    select b.bucket_start, ${bucketDescriptionSql(sql`b.bucket_start`, window)}
    from (select distinct bucket_start from (${points}) as s) as b
    where b.bucket_start < ${end}::timestamptz
    order by 1`.execute(db);
  return rows.map(bucketFromRow);
}

function chooseSource(
  filter: EventFilter,
  groupBy: Dimension[],
  window: ZonedWindow | undefined,
  useRollups: boolean,
): Source {
  const rollup = useRollups ? chooseRollup([...groupBy, ...filterDimensions(filter)]) : undefined;
  if (!rollup) return { rollup: undefined, plan: undefined };
  const plan = planRange(filter.startTime, filter.endTime, grainFor(window?.unit, window?.timeZone ?? "UTC"));
  return plan.pieces.length ? { rollup, plan } : { rollup: undefined, plan: undefined };
}

/** Runs a read with the rollup watermark of its own snapshot (REPEATABLE READ), or plainly for the raw ledger. */
async function inSnapshot<T>(
  db: Kysely<Database>,
  source: Source,
  read: (db: Kysely<Database>, watermark: bigint) => Promise<T>,
): Promise<T> {
  if (!source.rollup) return read(db, 0n);
  // Inside a caller's transaction (a watch snapshot, REPEATABLE READ) the caller's snapshot already holds.
  if (db.isTransaction) return read(db, await readWatermark(db));
  return db
    .transaction()
    .setIsolationLevel("repeatable read")
    .execute(async (trx) => read(trx, await readWatermark(trx)));
}

/**
 * The rows a question sums: per call (raw) or per rollup bucket, with the selected key columns (missing values as
 * ''), a time `t` (the event time, or the rollup bucket's start) and the value columns of CostTotals.
 */
function sourceSql(source: Source, filter: EventFilter, columns: readonly string[], watermark: bigint): RawBuilder<unknown> {
  const rawRows = (conditions: RawBuilder<unknown>[]) => sql`
    select ${sql.join([
      ...columns.map((c) => sql`coalesce(${sql.ref(c)}, '') as ${sql.ref(c)}`),
      sql`occurred_at as t`,
      sql`coalesce(cost_usd, 0) as cost_usd`,
      sql`1 as call_count`,
      sql`input_tokens`,
      sql`cache_read_input_tokens`,
      sql`cache_write_input_tokens`,
      sql`output_tokens`,
      sql`reasoning_output_tokens`,
      sql`(cost_usd is null)::int as unpriced_call_count`,
    ])}
    from ledger_event
    where ${sql.join([sql`kind = 'api_call'`, ...filterConditions(filter), ...conditions], sql` and `)}`;

  if (!source.rollup || !source.plan) return rawRows(rangeConditions(filter.startTime, filter.endTime));

  const w = watermark.toString();
  const pieces = source.plan.pieces.map(
    (p) =>
      sql`(${sql.join(
        [
          sql`grain_seconds = ${p.grain}`,
          ...(p.from ? [sql`bucket_start >= ${p.from}::timestamptz`] : []),
          ...(p.to ? [sql`bucket_start < ${p.to}::timestamptz`] : []),
        ],
        sql` and `,
      )})`,
  );
  const rollupRows = sql`
    select ${sql.join([...columns.map((c) => sql.ref(c)), sql`bucket_start as t`, ...TOTAL_COLUMNS.map((c) => sql.ref(c))])}
    from ${sql.table(source.rollup.table)}
    where ${sql.join([sql`(${sql.join(pieces, sql` or `)})`, ...filterConditions(filter)], sql` and `)}`;
  const parts = [
    rollupRows,
    rawRows([sql`seq > ${w}`, ...rangeConditions(filter.startTime, filter.endTime)]),
    ...source.plan.rawEdges.map((edge) => rawRows([sql`seq <= ${w}`, ...rangeConditions(edge.start, edge.end)])),
  ];
  return sql.join(parts, sql` union all `);
}

/** The filter's dimension conditions; the same columns exist in the ledger and in every rollup that has them. */
function filterConditions(filter: EventFilter): RawBuilder<unknown>[] {
  const conditions: RawBuilder<unknown>[] = [];
  const eq = (column: string, value: string | undefined) => {
    if (value) conditions.push(sql`${sql.ref(column)} = ${value}`);
  };
  eq("task_id", filter.taskId);
  eq("agent_id", filter.agentId);
  eq("user_id", filter.userId);
  eq("provider", filter.provider);
  eq("model", filter.model);
  eq("operation", filter.operation);
  eq("status", filter.status);
  return conditions;
}

function rangeConditions(start: Instant | undefined, end: Instant | undefined): RawBuilder<unknown>[] {
  return [
    ...(start ? [sql`occurred_at >= ${start}::timestamptz`] : []),
    ...(end ? [sql`occurred_at < ${end}::timestamptz`] : []),
  ];
}

function totalsSums(): RawBuilder<unknown>[] {
  return TOTAL_COLUMNS.map((c) => sql`coalesce(sum(${sql.ref(c)}), 0) as ${sql.ref(c)}`);
}

/** The start of the calendar bucket that holds `t`. */
function bucketStartSql(window: ZonedWindow): RawBuilder<unknown> {
  return sql`date_trunc(${window.unit}, t, ${window.timeZone})`;
}

/** The end, local start and UTC offset of a bucket given by its start. */
function bucketDescriptionSql(start: RawBuilder<unknown>, { unit, timeZone }: ZonedWindow): RawBuilder<unknown> {
  const end =
    unit === "hour"
      ? sql`${start} + interval '1 hour'`
      : sql`date_trunc(${unit}, ((${start} at time zone ${timeZone}) + ${`1 ${unit}`}::interval) at time zone ${timeZone}, ${timeZone})`;
  return sql`${end} as bucket_end,
    to_char(${start} at time zone ${timeZone}, 'YYYY-MM-DD"T"HH24:MI:SS') as local_start,
    extract(epoch from (${start} at time zone ${timeZone}) - (${start} at time zone 'UTC'))::bigint as offset_seconds`;
}

function bucketFromRow(row: Record<string, string>): Bucket {
  return {
    start: instantFromPg(row.bucket_start!),
    end: instantFromPg(row.bucket_end!),
    label: `${row.local_start}${formatOffset(Number(row.offset_seconds))}`,
  };
}

function formatOffset(seconds: number): string {
  const sign = seconds < 0 ? "-" : "+";
  const abs = Math.abs(seconds);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${sign}${pad(Math.floor(abs / 3600))}:${pad(Math.floor((abs % 3600) / 60))}`;
}
