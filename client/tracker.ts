import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import {
  EventRecord,
  type DeepPartial,
  type TrackAgentExecutionRequest,
  type TrackApiCallRequest,
} from "../gen/costtracking/v1/cost_tracking_service.js";
import type { IngestSummary, RejectedEvent } from "../gen/costtracking/v1/ledger.js";
import { CostTrackingError, type CostTrackingClient } from "./index.js";

export interface TrackerOptions {
  /** The most events held in memory waiting to be sent. Default 10,000. */
  maxBufferedEvents?: number;
  /** Events per shipment: a batch leaves as soon as it is this big. Default 500. */
  batchSize?: number;
  /** The longest an event waits before its batch leaves, in milliseconds. Default 1,000. */
  flushIntervalMs?: number;
  /** What record() does when the buffer is full: "wait" for room (default) or "drop" the event and count it. */
  whenFull?: "wait" | "drop";
  /** The first retry's delay; it doubles per failed attempt up to maxBackoffMs, with full jitter. Default 200. */
  initialBackoffMs?: number;
  /** Default 10,000. */
  maxBackoffMs?: number;
  /** Told about every event the server refused (invalid, or a reused request id), for logging. */
  onRejected?: (rejected: RejectedEvent, event: EventRecord) => void;
  /** Told about a batch given up on a non-retryable error (e.g. PERMISSION_DENIED), for logging. */
  onError?: (error: CostTrackingError, events: readonly EventRecord[]) => void;
}

/** What the tracker has done so far. */
export interface TrackerCounters {
  /** Events handed to record() and accepted into the buffer. */
  recorded: number;
  /** Events the server stored. */
  stored: number;
  /** Events the server already had (a retry of a batch whose reply was lost): stored once, never twice. */
  duplicates: number;
  /** Events the server refused, each reported to onRejected. */
  rejected: number;
  /** Shipments tried again after a transient failure (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED). */
  retries: number;
  /** Events dropped because the buffer was full (whenFull "drop") or the tracker was closed. */
  dropped: number;
  /** Events given up on a non-retryable error, each batch reported to onError. */
  failed: number;
  /** Events waiting in the buffer or in flight now. */
  pending: number;
}

/** Codes after which the same batch is simply sent again: its request ids make that safe. */
const TRANSIENT = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.RESOURCE_EXHAUSTED, status.ABORTED]);

/**
 * A non-blocking recorder for an orchestrator's hot path. record() returns at once; events wait in a bounded buffer
 * and leave in batches over the IngestEvents stream (when a batch is full or the interval passes, whichever comes
 * first). Every event gets its request id when recorded, so a batch retried after a lost reply is stored once.
 * flush() waits until everything recorded so far is stored (or refused); close() flushes and stops.
 */
export class CostTracker {
  private readonly buffer: EventRecord[] = [];
  private readonly roomWaiters: Array<() => void> = [];
  private readonly flushWaiters: Array<{ upTo: number; resolve: () => void }> = [];
  private readonly counts: Omit<TrackerCounters, "pending"> = {
    recorded: 0,
    stored: 0,
    duplicates: 0,
    rejected: 0,
    retries: 0,
    dropped: 0,
    failed: 0,
  };
  private inFlight = 0;
  /** How many recorded events have been settled (stored, duplicate, rejected or failed), in order. */
  private settled = 0;
  private timer: NodeJS.Timeout | undefined;
  private shipping = false;
  private closed = false;
  private readonly options: Required<Omit<TrackerOptions, "onRejected" | "onError">> & TrackerOptions;

  constructor(
    private readonly client: Pick<CostTrackingClient, "ingestEvents">,
    options: TrackerOptions = {},
  ) {
    this.options = {
      maxBufferedEvents: 10_000,
      batchSize: 500,
      flushIntervalMs: 1_000,
      whenFull: "wait",
      initialBackoffMs: 200,
      maxBackoffMs: 10_000,
      ...options,
    };
  }

  /** Records an API call; see record(). */
  recordApiCall(call: DeepPartial<TrackApiCallRequest>): Promise<boolean> {
    return this.record({ apiCall: call });
  }

  /** Records an agent execution; see record(). */
  recordAgentExecution(execution: DeepPartial<TrackAgentExecutionRequest>): Promise<boolean> {
    return this.record({ agentExecution: execution });
  }

  /**
   * Buffers an event and returns at once: the promise resolves true when the event is buffered, false when it was
   * dropped (buffer full with whenFull "drop", or the tracker closed). It never rejects, so it may be ignored.
   */
  async record(event: DeepPartial<EventRecord>): Promise<boolean> {
    const record = EventRecord.fromPartial(event);
    if (record.apiCall && !record.apiCall.requestId) record.apiCall.requestId = randomUUID();
    if (record.agentExecution && !record.agentExecution.requestId) record.agentExecution.requestId = randomUUID();
    while (!this.closed && this.buffer.length + this.inFlight >= this.options.maxBufferedEvents) {
      if (this.options.whenFull === "drop") break;
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
    if (this.closed || this.buffer.length + this.inFlight >= this.options.maxBufferedEvents) {
      this.counts.dropped += 1;
      return false;
    }
    this.buffer.push(record);
    this.counts.recorded += 1;
    if (this.buffer.length >= this.options.batchSize) this.ship();
    else this.timer ??= setTimeout(() => this.ship(), this.options.flushIntervalMs);
    return true;
  }

  /** Resolves once every event recorded before the call has been stored, found duplicate, refused or failed. */
  flush(): Promise<void> {
    const upTo = this.counts.recorded;
    if (this.settled >= upTo) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.flushWaiters.push({ upTo, resolve }));
    this.ship();
    return done;
  }

  /** Flushes, then stops: later record() calls resolve false and count as dropped. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    clearTimeout(this.timer);
    for (const wake of this.roomWaiters.splice(0)) wake();
  }

  get counters(): TrackerCounters {
    return { ...this.counts, pending: this.buffer.length + this.inFlight };
  }

  /** Sends batches one after another until the buffer is empty; one shipment is in flight at a time. */
  private ship(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.shipping || this.buffer.length === 0) return;
    this.shipping = true;
    void (async () => {
      while (this.buffer.length > 0) {
        const batch = this.buffer.splice(0, this.options.batchSize);
        this.inFlight = batch.length;
        await this.send(batch);
        this.inFlight = 0;
        this.settled += batch.length;
        for (const wake of this.roomWaiters.splice(0)) wake();
        for (const waiter of this.flushWaiters.filter((w) => w.upTo <= this.settled)) {
          this.flushWaiters.splice(this.flushWaiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
      this.shipping = false;
    })();
  }

  /** Sends one batch until it is stored or refused for good; transient failures are retried with backoff. */
  private async send(batch: EventRecord[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        this.count(await this.client.ingestEvents(batch, { deadlineMs: 30_000 }).then((r) => r.summary), batch);
        return;
      } catch (thrown) {
        const error = thrown instanceof CostTrackingError ? thrown : undefined;
        if (error && !TRANSIENT.has(error.code)) {
          this.counts.failed += batch.length;
          this.options.onError?.(error, batch);
          return;
        }
        this.counts.retries += 1;
        const ceiling = Math.min(this.options.maxBackoffMs, this.options.initialBackoffMs * 2 ** Math.min(attempt, 16));
        await new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
      }
    }
  }

  private count(summary: IngestSummary | undefined, batch: EventRecord[]): void {
    this.counts.stored += Number(summary?.acceptedCount ?? 0);
    this.counts.duplicates += Number(summary?.duplicateCount ?? 0);
    this.counts.rejected += Number(summary?.rejectedCount ?? 0);
    for (const rejected of summary?.rejectedEvents ?? []) {
      const event = batch[Number(rejected.position)];
      if (event) this.options.onRejected?.(rejected, event);
    }
  }
}
