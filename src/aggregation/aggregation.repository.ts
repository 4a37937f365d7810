import { sql, type Expression, type Kysely, type SelectQueryBuilder, type SqlBool } from "kysely";
import type { Database } from "../db/schema.js";
import { formatMoney, Money } from "../money.js";
import { instantFromPg, type Instant } from "../time.js";
import type { CostTotals, EventFilter, GroupTotals, PeriodTotals, TimeWindow } from "./event-filter.js";

type EventQuery = SelectQueryBuilder<Database, "ledger_event", object>;

/** The totals columns of CostTotals, as SQL aggregates over api_call rows. */
function totalsColumns() {
  return [
    sql<string>`coalesce(sum(cost_usd), 0)`.as("cost_usd"),
    sql<string>`count(*)`.as("call_count"),
    sql<string>`coalesce(sum(input_tokens), 0)`.as("input_tokens"),
    sql<string>`coalesce(sum(cache_read_input_tokens), 0)`.as("cache_read_input_tokens"),
    sql<string>`coalesce(sum(cache_write_input_tokens), 0)`.as("cache_write_input_tokens"),
    sql<string>`coalesce(sum(output_tokens), 0)`.as("output_tokens"),
    sql<string>`coalesce(sum(reasoning_output_tokens), 0)`.as("reasoning_output_tokens"),
    sql<string>`count(*) filter (where cost_usd is null)`.as("unpriced_call_count"),
  ] as const;
}

interface TotalsRow {
  cost_usd: string;
  call_count: string;
  input_tokens: string;
  cache_read_input_tokens: string;
  cache_write_input_tokens: string;
  output_tokens: string;
  reasoning_output_tokens: string;
  unpriced_call_count: string;
}

export function totalsFromRow(row: TotalsRow | undefined): CostTotals {
  const whole = (value: string | undefined) => String(value ?? "0");
  return {
    costUsd: formatMoney(new Money(row?.cost_usd ?? "0")),
    callCount: whole(row?.call_count),
    inputTokens: whole(row?.input_tokens),
    cacheReadInputTokens: whole(row?.cache_read_input_tokens),
    cacheWriteInputTokens: whole(row?.cache_write_input_tokens),
    outputTokens: whole(row?.output_tokens),
    reasoningOutputTokens: whole(row?.reasoning_output_tokens),
    unpricedCallCount: whole(row?.unpriced_call_count),
  };
}

/** Applies an EventFilter; every set field narrows (AND). */
export function applyFilter<Q extends EventQuery>(query: Q, filter: EventFilter): Q {
  let q = query as EventQuery;
  if (filter.startTime) q = q.where("occurred_at", ">=", filter.startTime);
  if (filter.endTime) q = q.where("occurred_at", "<", filter.endTime);
  if (filter.taskId) q = q.where("task_id", "=", filter.taskId);
  if (filter.agentId) q = q.where("agent_id", "=", filter.agentId);
  if (filter.userId) q = q.where("user_id", "=", filter.userId);
  if (filter.provider) q = q.where("provider", "=", filter.provider);
  if (filter.model) q = q.where("model", "=", filter.model);
  if (filter.operation) q = q.where("operation", "=", filter.operation);
  if (filter.status) q = q.where("status", "=", filter.status);
  return q as Q;
}

function apiCalls(db: Kysely<Database>, filter: EventFilter): EventQuery {
  return applyFilter(db.selectFrom("ledger_event").where("kind", "=", "api_call"), filter);
}

/** The totals of the API calls that match a filter. */
export async function sumTotals(db: Kysely<Database>, filter: EventFilter): Promise<CostTotals> {
  const row = await apiCalls(db, filter).select(totalsColumns()).executeTakeFirst();
  return totalsFromRow(row);
}

/** A column an aggregation can group by. */
export type GroupColumn = "operation" | "model" | "agent_id" | "provider" | "user_id" | "task_id" | "agent_execution_id";

/** Totals per value of one column, most expensive first (then by key). A missing value groups under "". */
export async function sumTotalsBy(db: Kysely<Database>, filter: EventFilter, column: GroupColumn): Promise<GroupTotals[]> {
  const key = sql<string>`coalesce(${sql.ref(column)}, '')`;
  const rows = await apiCalls(db, filter)
    .select([key.as("group_key"), ...totalsColumns()])
    .groupBy(key)
    .orderBy(sql`coalesce(sum(cost_usd), 0)`, "desc")
    .orderBy(key)
    .execute();
  return rows.map((row) => ({ key: row.group_key, totals: totalsFromRow(row) }));
}

/** Totals per calendar bucket of the time zone; only buckets that hold calls, in time order. */
export async function sumTotalsByPeriod(
  db: Kysely<Database>,
  filter: EventFilter,
  window: TimeWindow,
  timeZone: string,
): Promise<PeriodTotals[]> {
  const bucket = sql<string>`date_trunc(${window}, occurred_at, ${timeZone})`;
  const rows = await apiCalls(db, filter)
    .select([
      bucket.as("bucket_start"),
      sql<string>`((date_trunc(${window}, occurred_at, ${timeZone}) at time zone ${timeZone}) + ${`1 ${window}`}::interval) at time zone ${timeZone}`.as(
        "bucket_end",
      ),
      sql<string>`to_char(date_trunc(${window}, occurred_at, ${timeZone}) at time zone ${timeZone}, 'YYYY-MM-DD"T"HH24:MI:SS')`.as(
        "local_start",
      ),
      sql<string>`extract(epoch from (date_trunc(${window}, occurred_at, ${timeZone}) at time zone ${timeZone}) - (date_trunc(${window}, occurred_at, ${timeZone}) at time zone 'UTC'))::bigint`.as(
        "offset_seconds",
      ),
      ...totalsColumns(),
    ])
    .groupBy([sql`1`, sql`2`, sql`3`, sql`4`])
    .orderBy(sql`1`)
    .execute();
  return rows.map((row) => ({
    start: instantFromPg(row.bucket_start),
    end: instantFromPg(row.bucket_end),
    label: `${row.local_start}${formatOffset(Number(row.offset_seconds))}`,
    totals: totalsFromRow(row),
  }));
}

function formatOffset(seconds: number): string {
  const sign = seconds < 0 ? "-" : "+";
  const abs = Math.abs(seconds);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${sign}${pad(Math.floor(abs / 3600))}:${pad(Math.floor((abs % 3600) / 60))}`;
}

/** The number of agent executions that match a filter. */
export async function countAgentExecutions(db: Kysely<Database>, filter: EventFilter): Promise<string> {
  const row = await applyFilter(db.selectFrom("ledger_event").where("kind", "=", "agent_execution"), filter)
    .select(sql<string>`count(*)`.as("n"))
    .executeTakeFirst();
  return String(row?.n ?? "0");
}

/** Call and execution statistics for GetStats, in one pass over the matching events. */
export interface StatsRow {
  succeeded_call_count: string;
  failed_call_count: string;
  cancelled_call_count: string;
  average_call_duration_ms: string | null;
  p50_call_duration_ms: number | null;
  p95_call_duration_ms: number | null;
  agent_execution_count: string;
  failed_agent_execution_count: string;
  average_agent_execution_duration_ms: string | null;
  p95_agent_execution_duration_ms: number | null;
}

export async function computeStats(db: Kysely<Database>, filter: EventFilter): Promise<StatsRow> {
  const isCall = sql<SqlBool>`kind = 'api_call'`;
  const isExecution = sql<SqlBool>`kind = 'agent_execution'`;
  const when = (condition: Expression<SqlBool>, aggregate: string) =>
    sql`${sql.raw(aggregate)} filter (where ${condition})`;
  const row = await applyFilter(db.selectFrom("ledger_event"), filter)
    .select([
      sql<string>`count(*) filter (where kind = 'api_call' and status = 'succeeded')`.as("succeeded_call_count"),
      sql<string>`count(*) filter (where kind = 'api_call' and status = 'failed')`.as("failed_call_count"),
      sql<string>`count(*) filter (where kind = 'api_call' and status = 'cancelled')`.as("cancelled_call_count"),
      when(isCall, "avg(duration_ms)").$castTo<string | null>().as("average_call_duration_ms"),
      when(isCall, "percentile_cont(0.5) within group (order by duration_ms)").$castTo<number | null>().as("p50_call_duration_ms"),
      when(isCall, "percentile_cont(0.95) within group (order by duration_ms)").$castTo<number | null>().as("p95_call_duration_ms"),
      sql<string>`count(*) filter (where kind = 'agent_execution')`.as("agent_execution_count"),
      sql<string>`count(*) filter (where kind = 'agent_execution' and status = 'failed')`.as("failed_agent_execution_count"),
      when(isExecution, "avg(duration_ms)").$castTo<string | null>().as("average_agent_execution_duration_ms"),
      when(isExecution, "percentile_cont(0.95) within group (order by duration_ms)").$castTo<number | null>().as(
        "p95_agent_execution_duration_ms",
      ),
    ])
    .executeTakeFirstOrThrow();
  return row;
}

/** The start of the calendar unit (day or month) that holds `now`, in a time zone. */
export async function startOfCalendarUnit(
  db: Kysely<Database>,
  unit: "day" | "month",
  now: Instant,
  timeZone: string,
): Promise<Instant> {
  const result = await sql<{ start: string }>`select date_trunc(${unit}, ${now}::timestamptz, ${timeZone}) as start`.execute(db);
  return instantFromPg(result.rows[0]!.start);
}
