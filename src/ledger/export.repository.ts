import type { Kysely, Selectable } from "kysely";
import { applyFilter } from "../aggregation/aggregation.repository.js";
import type { EventFilter } from "../aggregation/event-filter.js";
import type { Database, LedgerEventTable } from "../db/schema.js";
import { instantFromPg, type Instant } from "../time.js";

/** A stored event with its times as Instants. */
export type ExportedEvent = Omit<Selectable<LedgerEventTable>, "occurred_at" | "recorded_at" | "content_hash"> & {
  occurred_at: Instant;
  recorded_at: Instant;
};

/**
 * The events that match a filter, in (occurred_at, id) order, one page at a time. Each page is one query that
 * starts after the last event of the page before (a keyset cursor, written so the occurred_at index serves it), so
 * memory holds one page whatever the ledger's size, and events recorded during the export never shift a page.
 */
export async function* exportEventPages(db: Kysely<Database>, filter: EventFilter, pageSize: number): AsyncGenerator<ExportedEvent[]> {
  let after: { at: Instant; id: string } | undefined;
  for (;;) {
    let query = applyFilter(db.selectFrom("ledger_event"), filter);
    if (after) {
      const { at, id } = after;
      query = query.where("occurred_at", ">=", at).where((eb) => eb.or([eb("occurred_at", ">", at), eb("id", ">", id)]));
    }
    const rows = await query
      .select([
        "id", "request_id", "kind", "occurred_at", "recorded_at", "task_id", "agent_id", "agent_execution_id", "user_id",
        "operation", "model", "provider", "endpoint", "input_tokens", "cache_read_input_tokens", "cache_write_input_tokens",
        "output_tokens", "reasoning_output_tokens", "total_tokens", "cost_usd", "price_id", "duration_ms", "status",
        "error_message", "cost_source",
      ])
      .orderBy("occurred_at")
      .orderBy("id")
      .limit(pageSize)
      .execute();
    if (rows.length === 0) return;
    const page = rows.map((row) => ({
      ...row,
      occurred_at: instantFromPg(String(row.occurred_at)),
      recorded_at: instantFromPg(String(row.recorded_at)),
    }));
    yield page;
    if (rows.length < pageSize) return;
    const last = page[page.length - 1]!;
    after = { at: last.occurred_at, id: last.id };
  }
}
