import { sql, type Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import { instantFromPg, type Instant } from "../time.js";

/** The calendar month that holds `now` in a time zone: its start (inclusive) and end (exclusive). */
export async function monthBounds(db: Kysely<Database>, now: Instant, timeZone: string): Promise<{ start: Instant; end: Instant }> {
  const result = await sql<{ month_start: string; month_end: string }>`
    select date_trunc('month', ${now}::timestamptz, ${timeZone}) as month_start,
           (date_trunc('month', ${now}::timestamptz, ${timeZone}) at time zone ${timeZone} + interval '1 month')
             at time zone ${timeZone} as month_end`.execute(db);
  const row = result.rows[0]!;
  return { start: instantFromPg(row.month_start), end: instantFromPg(row.month_end) };
}
