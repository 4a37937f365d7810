import { createHash } from "node:crypto";
import type { FieldViolation } from "../errors.js";
import type { Usage } from "../pricing/usage.js";
import type { Instant } from "../time.js";

export type EventStatus = "succeeded" | "failed" | "cancelled";

/** A validated API call to record. Optional fields are undefined when the caller left them empty. */
export interface NewApiCall {
  requestId: string | undefined;
  /** Undefined: the time of recording. */
  callTime: Instant | undefined;
  taskId: string | undefined;
  agentId: string | undefined;
  agentExecutionId: string | undefined;
  userId: string | undefined;
  operation: string | undefined;
  model: string;
  provider: string | undefined;
  endpoint: string | undefined;
  usage: Usage;
  durationMs: bigint;
  status: EventStatus;
  errorMessage: string | undefined;
  /**
   * The cost as billed by the caller's own accounting, used instead of the catalog price (history imports), in its
   * exact canonical form ("0.00015" for "0.000150"): a string, so the content hash never depends on decimal.js.
   */
  recordedCostUsd?: string | undefined;
}

/** A validated agent execution to record. */
export interface NewAgentExecution {
  requestId: string | undefined;
  agentExecutionId: string | undefined;
  agentId: string;
  taskId: string | undefined;
  userId: string | undefined;
  operation: string | undefined;
  startTime: Instant | undefined;
  durationMs: bigint;
  status: EventStatus;
  errorMessage: string | undefined;
}

/**
 * A fingerprint of what the caller sent under a request id, so a retry (same content) is told from a reuse
 * (different content). It covers the request as sent, so a retry of a request that left its time empty matches.
 */
export function contentHash(kind: "api_call" | "agent_execution", event: NewApiCall | NewAgentExecution): string {
  const { requestId: _ignored, ...content } = event;
  return createHash("sha256").update(canonicalJson({ kind, ...content })).digest("base64url");
}

/**
 * JSON with object keys sorted and bigints as strings, so equal content always gives equal text. The hashes of
 * stored events depend on this exact text: changing it would turn every later retry of them into a reuse.
 * (Written as a loop rather than entries/filter/sort/map: it runs once per recorded event.)
 */
export function canonicalJson(value: unknown): string {
  if (typeof value === "bigint") return `"${value}"`;
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  const object = value as Record<string, unknown>;
  let text = "{";
  for (const key of Object.keys(object).sort()) {
    const field = object[key];
    if (field === undefined) continue;
    if (text.length > 1) text += ",";
    text += `${JSON.stringify(key)}:${canonicalJson(field)}`;
  }
  return `${text}}`;
}

/**
 * One event of a stream or batch, already checked field by field: a valid API call or agent execution, or an
 * invalid item with its violations (field paths relative to the item, e.g. "api_call.usage.input_tokens").
 */
export type IngestItem =
  | { kind: "api_call"; call: NewApiCall }
  | { kind: "agent_execution"; execution: NewAgentExecution }
  | { kind: "invalid"; requestId: string | undefined; violations: FieldViolation[] };

/** An item that was refused, by its 0-based position in the stream or batch. */
export interface RejectedItem {
  position: number;
  requestId: string | undefined;
  /** "INVALID_FIELD", "REQUEST_ID_REUSED" or, for a fault of ours, "INTERNAL". */
  reason: string;
  message: string;
  violations: FieldViolation[];
}

/** The outcome of a stream or batch: every item is in exactly one of the three counts. */
export interface IngestSummary {
  acceptedCount: number;
  duplicateCount: number;
  rejectedCount: number;
  /** In position order; at most MAX_LISTED_REJECTIONS. */
  rejected: RejectedItem[];
  omittedRejectionCount: number;
}
