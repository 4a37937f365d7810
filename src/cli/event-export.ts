import { once } from "node:events";
import { createReadStream, createWriteStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Writable } from "node:stream";
import {
  EventStatus,
  LedgerEvent,
  type CostTrackingClient,
  type DeepPartial,
  type EventFilter,
  type EventRecord,
  type Timestamp,
} from "../../client/index.js";

export type ExportFormat = "csv" | "jsonl";

/** The CSV columns, one per LedgerEvent field (times as ISO-8601 UTC with microseconds, money exact). */
const CSV_COLUMNS = [
  "event_id", "request_id", "kind", "occurred_at", "recorded_at", "task_id", "agent_id", "agent_execution_id", "user_id",
  "operation", "model", "provider", "endpoint", "input_tokens", "cache_read_input_tokens", "cache_write_input_tokens",
  "output_tokens", "reasoning_output_tokens", "cost_usd", "price_id", "cost_source", "duration_ms", "status", "error_message",
] as const;

const STATUS_WORD: Record<number, string> = {
  [EventStatus.EVENT_STATUS_SUCCEEDED]: "succeeded",
  [EventStatus.EVENT_STATUS_FAILED]: "failed",
  [EventStatus.EVENT_STATUS_CANCELLED]: "cancelled",
};

/** "2025-11-16T18:15:46.680123Z" from a Timestamp. */
export function isoMicros(ts: Timestamp | undefined): string {
  if (!ts) return "";
  const whole = new Date(Number(ts.seconds) * 1000).toISOString().slice(0, 19);
  return `${whole}.${String(Math.floor(ts.nanos / 1000)).padStart(6, "0")}Z`;
}

/**
 * One event as a JSON line: its protobuf JSON form, but with the times written to the microsecond (ts-proto's
 * Timestamp JSON goes through a Date and would drop microseconds, changing the event on re-import).
 */
export function jsonLine(event: LedgerEvent): string {
  return JSON.stringify({ ...(LedgerEvent.toJSON(event) as object), occurredTime: isoMicros(event.occurredTime), recordedTime: isoMicros(event.recordedTime) });
}

/** Parses a line of jsonLine, times kept to the nanosecond. */
export function parseJsonLine(line: string): LedgerEvent {
  const object = JSON.parse(line) as Record<string, unknown>;
  const event = LedgerEvent.fromJSON({ ...object, occurredTime: undefined, recordedTime: undefined });
  const time = (value: unknown): Timestamp | undefined => {
    const match = typeof value === "string" ? /^(.*?)(?:\.(\d{1,9}))?Z$/.exec(value) : null;
    const millis = match ? Date.parse(`${match[1]}Z`) : NaN;
    if (!match || Number.isNaN(millis)) return undefined;
    return { seconds: String(Math.floor(millis / 1000)), nanos: Number((match[2] ?? "").padEnd(9, "0")) };
  };
  const occurredTime = time(object.occurredTime);
  if (!occurredTime) throw new Error("occurredTime is missing or not an ISO-8601 UTC time");
  return { ...event, occurredTime, recordedTime: time(object.recordedTime) };
}

function csvCell(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

function csvLine(e: LedgerEvent): string {
  const u = e.usage;
  const cells = [
    e.eventId, e.requestId, e.kind, isoMicros(e.occurredTime), isoMicros(e.recordedTime), e.taskId, e.agentId, e.agentExecutionId,
    e.userId, e.operation, e.model, e.provider, e.endpoint, u?.inputTokens ?? "0", u?.cacheReadInputTokens ?? "0",
    u?.cacheWriteInputTokens ?? "0", u?.outputTokens ?? "0", u?.reasoningOutputTokens ?? "0", e.costUsd ?? "", e.priceId,
    e.costSource, e.durationMs, STATUS_WORD[e.status] ?? "", e.errorMessage,
  ];
  return cells.map(csvCell).join(",");
}

/**
 * Writes the events of a filter to a file or stdout as CSV or JSON Lines (one LedgerEvent in its protobuf JSON form
 * per line: the format `import jsonl` reads). Streams: one server chunk in memory, and it waits for the output
 * to drain, so millions of events take constant memory. Returns the number of events written.
 */
export async function exportEvents(
  client: CostTrackingClient,
  filter: DeepPartial<EventFilter>,
  format: ExportFormat,
  output: string | undefined,
  onProgress?: (done: number) => void,
): Promise<number> {
  const out: Writable = output ? createWriteStream(output) : process.stdout;
  const write = async (line: string) => {
    if (!out.write(`${line}\n`)) await once(out, "drain");
  };
  let count = 0;
  try {
    if (format === "csv") await write(CSV_COLUMNS.join(","));
    for await (const event of client.exportEvents({ filter })) {
      await write(format === "csv" ? csvLine(event) : jsonLine(event));
      count += 1;
      if (count % 1000 === 0) onProgress?.(count);
    }
  } finally {
    if (output) {
      out.end();
      await once(out, "finish");
    }
  }
  return count;
}

/**
 * An exported event as the request that records it again under the same request id. The cost is re-priced by the
 * target's catalog (so importing into the ledger that exported it finds every event a duplicate), except a cost
 * that was recorded (cost_source "recorded"), which stays recorded; keepCosts records every exported cost as is,
 * for moving events to a ledger whose catalog differs.
 */
export function recordOfExported(event: LedgerEvent, keepCosts: boolean): DeepPartial<EventRecord> {
  if (event.kind === "agent_execution") {
    return {
      agentExecution: {
        requestId: event.requestId,
        agentExecutionId: event.agentExecutionId,
        agentId: event.agentId,
        taskId: event.taskId,
        userId: event.userId,
        operation: event.operation,
        ...(event.occurredTime ? { startTime: event.occurredTime } : {}),
        durationMs: event.durationMs,
        status: event.status,
        errorMessage: event.errorMessage,
      },
    };
  }
  const keep = event.costUsd !== undefined && (keepCosts || event.costSource === "recorded");
  return {
    apiCall: {
      requestId: event.requestId,
      ...(event.occurredTime ? { callTime: event.occurredTime } : {}),
      taskId: event.taskId,
      agentId: event.agentId,
      agentExecutionId: event.agentExecutionId,
      userId: event.userId,
      operation: event.operation,
      model: event.model,
      provider: event.provider,
      endpoint: event.endpoint,
      ...(event.usage ? { usage: event.usage } : {}),
      durationMs: event.durationMs,
      status: event.status,
      errorMessage: event.errorMessage,
      recordedCostUsd: keep ? event.costUsd : "",
    },
  };
}

export interface JsonlImportReport {
  read: number;
  stored: number;
  duplicates: number;
  rejected: number;
  /** The first 100 rejections, by line number. */
  rejections: Array<{ line: number; reason: string }>;
}

/** Re-records the events of an export's JSON Lines file ("-" for stdin) over one IngestEvents stream. */
export async function importJsonl(
  client: CostTrackingClient,
  path: string,
  keepCosts: boolean,
  onProgress?: (done: number, total: number) => void,
): Promise<JsonlImportReport> {
  let total = 0;
  if (path !== "-" && onProgress) {
    for await (const line of createInterface({ input: createReadStream(path, "utf8"), crlfDelay: Infinity })) if (line.trim() !== "") total += 1;
  }
  const input = path === "-" ? process.stdin : createReadStream(path, "utf8");
  const lines = createInterface({ input, crlfDelay: Infinity });
  let read = 0;
  async function* records(): AsyncGenerator<DeepPartial<EventRecord>> {
    for await (const line of lines) {
      if (line.trim() === "") continue;
      read += 1;
      let event: LedgerEvent;
      try {
        event = parseJsonLine(line);
      } catch (error) {
        throw new Error(`${path}:${read}: not an event in costctl export's format (${(error as Error).message})`);
      }
      yield recordOfExported(event, keepCosts);
      onProgress?.(read, Math.max(total, read));
    }
  }
  const { summary } = await client.ingestEvents(records());
  return {
    read,
    stored: Number(summary?.acceptedCount ?? 0),
    duplicates: Number(summary?.duplicateCount ?? 0),
    rejected: Number(summary?.rejectedCount ?? 0),
    rejections: (summary?.rejectedEvents ?? []).slice(0, 100).map((r) => ({
      line: Number(r.position) + 1,
      reason: `${r.reason}: ${r.fieldViolations.map((v) => `${v.field}: ${v.description}`).join("; ") || r.message}`,
    })),
  };
}
