import { existsSync, readFileSync, writeFileSync } from "node:fs";
import pg from "pg";
import { EventStatus, type CostTrackingClient, type DeepPartial, type EventRecord } from "../../client/index.js";

/** One row of the old service's cost_logs, as read: numbers and money as text, the time as UTC text with microseconds. */
interface CostLogRow {
  id: string;
  task_id: string;
  user_id: string | null;
  phase: string;
  model: string;
  provider: string;
  input_tokens: string | null;
  output_tokens: string | null;
  total_tokens: string | null;
  cost_usd: string | null;
  duration_ms: string | null;
  success: boolean | null;
  error_message: string | null;
  created_at: string;
}

export interface LegacyImportOptions {
  databaseUrl: string;
  /** The table to read (default cost_logs), optionally schema-qualified. */
  table?: string;
  /** Rows per page: one IngestEvents stream each, acknowledged before the next page is read. */
  pageSize?: number;
  /** A file recording the last id whose page the server acknowledged; the import resumes after it. */
  checkpointFile?: string;
  onProgress?: (done: number, total: number) => void;
}

export interface LegacyRejection {
  legacyId: string;
  reason: string;
}

export interface LegacyImportReport {
  /** Rows read from the source in this run (after the checkpoint, if resumed). */
  read: number;
  stored: number;
  duplicates: number;
  rejected: number;
  /** The first 100 rejections, with the legacy id and why. */
  rejections: LegacyRejection[];
  /** The id this run resumed after (from the checkpoint), or null. */
  resumedAfterId: string | null;
  /** Rows whose legacy cost_usd was kept as billed (recorded_cost_usd). */
  recordedCostRows: number;
  /** Rows with a NULL cost_usd, priced from the service's catalog instead. */
  catalogPricedRows: number;
  /** Rows whose stored total_tokens disagreed with input_tokens + output_tokens (the ledger derives the total). */
  totalTokenMismatches: number;
  /** The exact sum of the legacy cost_usd over the rows read. */
  legacyCostUsd: string;
}

const TABLE_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;

/** The request id of a legacy row: stable, so importing twice stores nothing new. */
export function legacyRequestId(table: string, id: string): string {
  return `legacy:${table}:${id}`;
}

/**
 * Imports the old service's cost_logs (legacy-services.md section 6) through IngestEvents, in id order, one page per
 * stream. Kept exactly: cost_usd (read as text, sent as recorded_cost_usd, so the service stores the cost as it was
 * billed rather than re-pricing it; a NULL cost is priced from the catalog), created_at (microseconds), task_id,
 * user_id (NULL allowed). phase becomes the operation; success false becomes a failed call with its error_message.
 * total_tokens is not trusted: the ledger derives it from input and output.
 */
export async function importLegacyCostLogs(client: CostTrackingClient, options: LegacyImportOptions): Promise<LegacyImportReport> {
  const table = options.table ?? "cost_logs";
  if (!TABLE_PATTERN.test(table)) throw new Error(`--table must be a table name such as cost_logs, got "${table}"`);
  const pageSize = options.pageSize ?? 5_000;
  const source = new pg.Client({ connectionString: options.databaseUrl, connectionTimeoutMillis: 10_000 });
  await source.connect();
  try {
    // The checkpoint names its source (the URL without credentials) and table, so it is never applied to another.
    const url = new URL(options.databaseUrl);
    const sourceName = `${url.host}${url.pathname}`;
    const checkpoint = options.checkpointFile && existsSync(options.checkpointFile) ? readCheckpoint(options.checkpointFile, sourceName, table) : null;
    let lastId = checkpoint ?? "-1";
    const counted = await source.query<{ count: string }>(`select count(*)::text as count from ${table} where id > $1`, [lastId]);
    const total = Number(counted.rows[0]!.count);
    const report: LegacyImportReport = {
      read: 0,
      stored: 0,
      duplicates: 0,
      rejected: 0,
      rejections: [],
      resumedAfterId: checkpoint,
      recordedCostRows: 0,
      catalogPricedRows: 0,
      totalTokenMismatches: 0,
      legacyCostUsd: "0",
    };
    const costs = await source.query<{ sum: string | null }>(`select sum(cost_usd)::text as sum from ${table} where id > $1`, [lastId]);
    report.legacyCostUsd = costs.rows[0]!.sum ?? "0";
    for (;;) {
      const page = await source.query<CostLogRow>(
        `select id::text, task_id::text, user_id::text, phase, model, provider,
                input_tokens::text, output_tokens::text, total_tokens::text, cost_usd::text, duration_ms::text,
                success, error_message,
                to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as created_at
           from ${table} where id > $1 order by id limit $2`,
        [lastId, pageSize],
      );
      if (page.rows.length === 0) break;
      const { summary } = await client.ingestEvents(page.rows.map((row) => eventOfRow(table, row)));
      for (const row of page.rows) {
        if (row.cost_usd === null) report.catalogPricedRows += 1;
        else report.recordedCostRows += 1;
        const derived = BigInt(row.input_tokens ?? "0") + BigInt(row.output_tokens ?? "0");
        if (row.total_tokens !== null && BigInt(row.total_tokens) !== derived) report.totalTokenMismatches += 1;
      }
      report.read += page.rows.length;
      report.stored += Number(summary?.acceptedCount ?? 0);
      report.duplicates += Number(summary?.duplicateCount ?? 0);
      report.rejected += Number(summary?.rejectedCount ?? 0);
      for (const rejection of summary?.rejectedEvents ?? []) {
        if (report.rejections.length >= 100) break;
        const fields = rejection.fieldViolations.map((v) => `${v.field}: ${v.description}`).join("; ");
        report.rejections.push({ legacyId: page.rows[Number(rejection.position)]?.id ?? "?", reason: `${rejection.reason}: ${fields || rejection.message}` });
      }
      lastId = page.rows[page.rows.length - 1]!.id;
      // The page is acknowledged (committed by the server): a rerun may start after it.
      if (options.checkpointFile) writeFileSync(options.checkpointFile, `${JSON.stringify({ source: sourceName, table, lastId })}\n`);
      options.onProgress?.(report.read, total);
    }
    return report;
  } finally {
    await source.end();
  }
}

function readCheckpoint(file: string, source: string, table: string): string | null {
  const saved = JSON.parse(readFileSync(file, "utf8")) as { source?: string; table?: string; lastId?: string };
  if (saved.source !== source || saved.table !== table || typeof saved.lastId !== "string" || !/^\d+$/.test(saved.lastId)) {
    throw new Error(`${file} is not a checkpoint of ${source} table ${table}; remove it to start over`);
  }
  return saved.lastId;
}

function eventOfRow(table: string, row: CostLogRow): DeepPartial<EventRecord> {
  const time = /^(.*)\.(\d{6})Z$/.exec(row.created_at)!;
  const seconds = Math.floor(Date.parse(`${time[1]}Z`) / 1000);
  return {
    apiCall: {
      requestId: legacyRequestId(table, row.id),
      callTime: { seconds: String(seconds), nanos: Number(time[2]) * 1000 },
      taskId: row.task_id,
      userId: row.user_id ?? "",
      operation: row.phase,
      model: row.model,
      provider: row.provider,
      usage: { inputTokens: row.input_tokens ?? "0", outputTokens: row.output_tokens ?? "0" },
      durationMs: row.duration_ms ?? "0",
      status: row.success === false ? EventStatus.EVENT_STATUS_FAILED : EventStatus.EVENT_STATUS_SUCCEEDED,
      errorMessage: row.error_message ?? "",
      recordedCostUsd: row.cost_usd ?? "",
    },
  };
}
