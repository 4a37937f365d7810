import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import { DomainError, RequestIdPastRetentionError, RequestIdReusedError, ValidationError, Violations } from "../errors.js";
import { Money, formatMoney } from "../money.js";
import type { Price } from "../pricing/price.js";
import { findPriceById } from "../pricing/price-catalog.repository.js";
import type { PricingService, Quote } from "../pricing/pricing.service.js";
import { instantFromDate, millisOfInstant, type Clock, type Instant } from "../time.js";
import { newEventId } from "./event-id.js";
import { retentionHorizon } from "./partitions.js";
import type { EventWriter, WriteOutcome } from "./event-writer.js";
import {
  contentHash,
  type IngestItem,
  type IngestSummary,
  type NewAgentExecution,
  type NewApiCall,
  type RejectedItem,
} from "./ledger-event.js";
import type { NewLedgerEventRow } from "./ledger.repository.js";

/** How an API call was recorded. `cost` and `price` are undefined when the model had no price. */
export interface TrackedApiCall {
  eventId: string;
  duplicate: boolean;
  cost: Money | undefined;
  price: Price | undefined;
}

/** How an agent execution was recorded. */
export interface TrackedAgentExecution {
  eventId: string;
  duplicate: boolean;
  agentExecutionId: string;
}

export interface LedgerServiceOptions {
  /** How far in the future an event time may lie. */
  maxClockSkewSeconds: number;
  /** LEDGER_RETENTION_MONTHS: events dated before the retention horizon are refused; 0 keeps every month. */
  retentionMonths?: number;
  clock: Clock;
}

/** What a committed write added: how many events, and the span of their event times. */
export interface CommittedEvents {
  count: number;
  earliest: Instant;
  latest: Instant;
}

/** Summarises rows that just committed, for the monitors: how many, and the span of their event times. */
export function committedEventsOf(rows: readonly NewLedgerEventRow[]): CommittedEvents {
  const times = rows.map((r) => r.occurred_at).sort();
  return { count: rows.length, earliest: times[0]!, latest: times[times.length - 1]! };
}

/** The earliest event time accepted: nothing in this ledger predates the Unix epoch. */
const EARLIEST_EVENT_TIME = "1970-01-01T00:00:00.000000Z";

/** A stream is read ahead and written in chunks of this many items... */
const CHUNK_ITEMS = 1_000;
/** ...with at most this many chunks of one stream being priced or written at once (its memory bound). */
const MAX_CHUNKS_IN_FLIGHT = 4;
/** A partial chunk is written after this long without new items, so a slow stream's events are not held back. */
const CHUNK_LINGER_MS = 5;
/** A response lists at most this many rejected items (all are counted), so it stays far below gRPC's 4 MB. */
export const MAX_LISTED_REJECTIONS = 10_000;

/**
 * Records events exactly once. Every write, single or bulk, goes through the one EventWriter, which groups
 * concurrent rows into shared multi-row statements and reports, per row, whether it was inserted, a duplicate of
 * the stored event (same request id and content: the original is returned) or a reuse (same request id, other
 * content: REQUEST_ID_REUSED). Callers are answered only after their rows have committed.
 */
export class LedgerService {
  constructor(
    private readonly db: Kysely<Database>,
    // Pricing reads an in-memory catalog snapshot, so a quote per event costs no database round trip.
    private readonly pricing: PricingService,
    private readonly writer: EventWriter,
    private readonly options: LedgerServiceOptions,
  ) {}

  async trackApiCall(call: NewApiCall): Promise<TrackedApiCall> {
    const { row, quote } = await this.prepareApiCall(call, "");
    const outcome = await this.writeOne(row);
    if (outcome.status === "inserted") {
      if (call.recordedCostUsd) return { eventId: row.id, duplicate: false, cost: new Money(call.recordedCostUsd), price: undefined };
      return quote.priced
        ? { eventId: row.id, duplicate: false, cost: quote.cost, price: quote.price }
        : { eventId: row.id, duplicate: false, cost: undefined, price: undefined };
    }
    const { original } = outcome;
    return {
      eventId: original.id,
      duplicate: true,
      cost: original.cost_usd === null ? undefined : new Money(original.cost_usd),
      price: original.price_id ? await findPriceById(this.db, original.price_id) : undefined,
    };
  }

  async trackAgentExecution(execution: NewAgentExecution): Promise<TrackedAgentExecution> {
    const row = this.prepareAgentExecution(execution, "");
    const outcome = await this.writeOne(row);
    if (outcome.status === "inserted") {
      return { eventId: row.id, duplicate: false, agentExecutionId: row.agent_execution_id! };
    }
    const { original } = outcome;
    return { eventId: original.id, duplicate: true, agentExecutionId: original.agent_execution_id ?? original.id };
  }

  /**
   * Records a stream (or batch) of items, each on its own: invalid items and reused request ids are reported by
   * position and never fail their neighbours. The stream is read ahead while earlier chunks are priced and written
   * (a pipeline), and reading pauses while MAX_CHUNKS_IN_FLIGHT chunks are unfinished, which bounds memory and lets
   * transport flow control slow the sender. Resolves after every accepted item has committed. Rejects (leaving
   * what was committed, which a resend finds as duplicates) only when the ledger cannot be written.
   */
  async ingest(items: Iterable<IngestItem> | AsyncIterable<IngestItem>): Promise<IngestSummary> {
    const summary = new SummaryBuilder();
    const inFlight = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    let chunk: Array<{ position: number; item: Exclude<IngestItem, { kind: "invalid" }> }> = [];
    let linger: NodeJS.Timeout | undefined;

    const submit = () => {
      clearTimeout(linger);
      linger = undefined;
      if (chunk.length === 0) return;
      const submitted = chunk;
      chunk = [];
      const work: Promise<void> = this.recordChunk(submitted, summary)
        .catch((error: unknown) => {
          failure ??= { error };
        })
        .finally(() => inFlight.delete(work));
      inFlight.add(work);
    };

    let position = 0;
    try {
      for await (const item of items) {
        if (failure) break;
        if (item.kind === "invalid") {
          summary.reject({
            position,
            requestId: item.requestId,
            reason: "INVALID_FIELD",
            message: item.violations.map((v) => `${v.field}: ${v.description}`).join("; "),
            violations: item.violations,
          });
        } else {
          chunk.push({ position, item });
          if (chunk.length >= CHUNK_ITEMS) submit();
          else linger ??= setTimeout(submit, CHUNK_LINGER_MS);
        }
        position += 1;
        while (inFlight.size >= MAX_CHUNKS_IN_FLIGHT) await Promise.race(inFlight);
      }
      if (!failure) submit();
    } finally {
      // Also when reading failed (the sender went away): what was handed over is finished, not abandoned midway.
      clearTimeout(linger);
      while (inFlight.size > 0) await Promise.all(inFlight);
    }
    if (failure) throw failure.error;
    return summary.build();
  }

  /** Prices and writes one chunk, and counts each item's outcome. */
  private async recordChunk(
    chunk: Array<{ position: number; item: Exclude<IngestItem, { kind: "invalid" }> }>,
    summary: SummaryBuilder,
  ): Promise<void> {
    const prepared = await Promise.all(
      chunk.map(async ({ position, item }) => {
        try {
          const row =
            item.kind === "api_call"
              ? (await this.prepareApiCall(item.call, "api_call.")).row
              : this.prepareAgentExecution(item.execution, "agent_execution.");
          return { position, row };
        } catch (error) {
          if (!(error instanceof ValidationError)) throw error;
          summary.rejectError(position, requestIdOf(item), error);
          return undefined;
        }
      }),
    );
    const valid = prepared.filter((p) => p !== undefined);
    const outcomes = await this.writer.write(valid.map((p) => p.row));
    outcomes.forEach((outcome, index) => {
      const { position, row } = valid[index]!;
      switch (outcome.status) {
        case "inserted":
          summary.acceptedCount += 1;
          break;
        case "duplicate":
          summary.duplicateCount += 1;
          break;
        case "reused":
          summary.rejectError(position, row.request_id, new RequestIdReusedError(row.request_id));
          break;
        case "past retention":
          summary.rejectError(position, row.request_id, new RequestIdPastRetentionError(row.request_id, outcome.occurredAt));
          break;
        case "failed":
          summary.reject({ position, requestId: row.request_id, reason: "INTERNAL", message: "internal error", violations: [] });
          break;
      }
    });
  }

  /** Checks an API call's time, prices it at that time and builds its row. Throws ValidationError. */
  private async prepareApiCall(call: NewApiCall, fieldPrefix: string): Promise<{ row: NewLedgerEventRow; quote: Quote }> {
    const occurredAt = this.eventTime(call.callTime, `${fieldPrefix}call_time`);
    // A recorded cost (history imported as it was billed) replaces the catalog price: no price reference, and
    // cost_source says where the cost came from.
    const recorded = call.recordedCostUsd;
    const quote: Quote = recorded ? { priced: false } : await this.pricing.quote(call.model, call.provider, call.usage, occurredAt);
    const eventId = newEventId(this.options.clock.now().getTime());
    const row: NewLedgerEventRow = {
      id: eventId,
      request_id: call.requestId ?? `server:${eventId}`,
      content_hash: contentHash("api_call", call),
      kind: "api_call",
      occurred_at: occurredAt,
      task_id: call.taskId ?? null,
      agent_id: call.agentId ?? null,
      agent_execution_id: call.agentExecutionId ?? null,
      user_id: call.userId ?? null,
      operation: call.operation ?? null,
      model: call.model,
      // A call that names no provider takes the one of the catalog entry that priced it, unless that entry is the
      // configured default price: its provider says nothing about who served the call.
      provider: call.provider ?? (quote.priced && quote.price.resolution !== "default_price" ? quote.price.provider : null),
      endpoint: call.endpoint ?? null,
      input_tokens: call.usage.inputTokens.toString(),
      cache_read_input_tokens: call.usage.cacheReadInputTokens.toString(),
      cache_write_input_tokens: call.usage.cacheWriteInputTokens.toString(),
      output_tokens: call.usage.outputTokens.toString(),
      reasoning_output_tokens: call.usage.reasoningOutputTokens.toString(),
      cost_usd: recorded ? recorded : quote.priced ? formatMoney(quote.cost) : null,
      price_id: quote.priced ? quote.price.id : null,
      duration_ms: call.durationMs.toString(),
      status: call.status,
      error_message: call.errorMessage ?? null,
      cost_source: recorded ? "recorded" : null,
    };
    return { row, quote };
  }

  /** Checks an agent execution's time and builds its row. Throws ValidationError. */
  private prepareAgentExecution(execution: NewAgentExecution, fieldPrefix: string): NewLedgerEventRow {
    const occurredAt = this.eventTime(execution.startTime, `${fieldPrefix}start_time`);
    const eventId = newEventId(this.options.clock.now().getTime());
    return {
      id: eventId,
      request_id: execution.requestId ?? `server:${eventId}`,
      content_hash: contentHash("agent_execution", execution),
      kind: "agent_execution",
      occurred_at: occurredAt,
      task_id: execution.taskId ?? null,
      agent_id: execution.agentId,
      agent_execution_id: execution.agentExecutionId ?? eventId,
      user_id: execution.userId ?? null,
      operation: execution.operation ?? null,
      model: null,
      provider: null,
      endpoint: null,
      input_tokens: "0",
      cache_read_input_tokens: "0",
      cache_write_input_tokens: "0",
      output_tokens: "0",
      reasoning_output_tokens: "0",
      cost_usd: null,
      price_id: null,
      duration_ms: execution.durationMs.toString(),
      status: execution.status,
      error_message: execution.errorMessage ?? null,
    };
  }

  /** Writes one row; a reuse or a refused row becomes the error the caller gets. */
  private async writeOne(
    row: NewLedgerEventRow,
  ): Promise<Exclude<WriteOutcome, { status: "reused" | "past retention" | "failed" }>> {
    const [outcome] = await this.writer.write([row]);
    if (outcome!.status === "reused") throw new RequestIdReusedError(row.request_id);
    if (outcome!.status === "past retention") throw new RequestIdPastRetentionError(row.request_id, outcome!.occurredAt);
    if (outcome!.status === "failed") throw outcome!.error;
    return outcome!;
  }

  /** The event's time: the given one (checked against the allowed clock skew) or now. */
  private eventTime(given: Instant | undefined, field: string): Instant {
    const now = this.options.clock.now();
    if (given === undefined) return instantFromDate(now);
    const violations = new Violations();
    const aheadSeconds = (millisOfInstant(given) - now.getTime()) / 1000;
    if (aheadSeconds > this.options.maxClockSkewSeconds) {
      violations.add(
        field,
        `is ${Math.round(aheadSeconds)} s in the future; at most ${this.options.maxClockSkewSeconds} s of clock skew is allowed`,
      );
    }
    if (given < EARLIEST_EVENT_TIME) violations.add(field, "must not be before 1970-01-01T00:00:00Z");
    const retentionMonths = this.options.retentionMonths ?? 0;
    if (retentionMonths > 0) {
      // The ledger no longer keeps that month (its partition is dropped, its sums live on in the rollups): storing
      // the event would count it in raw answers but not in the month's sums, or recreate a dropped month.
      const horizon = retentionHorizon(now, retentionMonths);
      if (given < horizon) {
        violations.add(field, `is before the retention horizon ${horizon} (LEDGER_RETENTION_MONTHS=${retentionMonths}); events that old are no longer kept`);
      }
    }
    violations.throwIfAny();
    return given;
  }
}

function requestIdOf(item: Exclude<IngestItem, { kind: "invalid" }>): string | undefined {
  return item.kind === "api_call" ? item.call.requestId : item.execution.requestId;
}

/** Counts outcomes and keeps the lowest-positioned MAX_LISTED_REJECTIONS rejections (chunks finish in any order). */
class SummaryBuilder {
  acceptedCount = 0;
  duplicateCount = 0;
  private rejectedCount = 0;
  private rejected: RejectedItem[] = [];

  reject(item: RejectedItem): void {
    this.rejectedCount += 1;
    this.rejected.push(item);
    if (this.rejected.length >= 2 * MAX_LISTED_REJECTIONS) this.trim();
  }

  rejectError(position: number, requestId: string | undefined, error: DomainError): void {
    this.reject({
      position,
      requestId,
      reason: error.reason,
      message: error.message,
      violations: error instanceof ValidationError ? error.violations : [],
    });
  }

  build(): IngestSummary {
    this.trim();
    return {
      acceptedCount: this.acceptedCount,
      duplicateCount: this.duplicateCount,
      rejectedCount: this.rejectedCount,
      rejected: this.rejected,
      omittedRejectionCount: this.rejectedCount - this.rejected.length,
    };
  }

  private trim(): void {
    this.rejected.sort((a, b) => a.position - b.position);
    this.rejected.length = Math.min(this.rejected.length, MAX_LISTED_REJECTIONS);
  }
}
