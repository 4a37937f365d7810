/**
 * The typed client of CostTrackingService for internal callers: every RPC as a promise, with a default deadline,
 * idempotency keys generated for writes, retries with jittered backoff on UNAVAILABLE, and one error class that
 * carries the gRPC code and the service's stable reason. It imports only generated code, never the server.
 *
 * @example
 * const client = createCostTrackingClient("127.0.0.1:50051");
 * const { costUsd } = await client.trackApiCall({
 *   model: "gpt-4o-mini", usage: { inputTokens: "1200", outputTokens: "300" }, status: EventStatus.EVENT_STATUS_SUCCEEDED,
 * });
 * client.close();
 */
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { credentials as grpcCredentials, Metadata, status, type ChannelCredentials, type ServiceError } from "@grpc/grpc-js";
import {
  AggregateByPeriodRequest,
  AggregateByTaskRequest,
  CalculateCostRequest,
  CostTrackingServiceClient,
  EventRecord,
  GetStatsRequest,
  IngestEventsRequest,
  TrackAgentExecutionRequest,
  TrackApiCallRequest,
  TrackEventsRequest,
  type AggregateByPeriodResponse,
  type AggregateByTaskResponse,
  type CalculateCostResponse,
  type GetStatsResponse,
  type TrackAgentExecutionResponse,
  type TrackApiCallResponse,
} from "../gen/costtracking/v1/cost_tracking_service.js";
import type { IngestEventsResponse, TrackEventsResponse } from "../gen/costtracking/v1/ledger.js";
import type { DeepPartial } from "../gen/costtracking/v1/cost_tracking_service.js";
import {
  EstimateCostRequest,
  ListModelPricesRequest,
  UpsertModelPriceRequest,
  type EstimateCostResponse,
  type ListModelPricesResponse,
  type UpsertModelPriceResponse,
} from "../gen/costtracking/v1/pricing.js";
import {
  AggregateByAgentRequest,
  AggregateByUserRequest,
  AggregateCostsRequest,
  GetCostHistoryRequest,
  GetCostSummaryRequest,
  GetProviderBreakdownRequest,
  type AggregateByAgentResponse,
  type AggregateByUserResponse,
  type AggregateCostsResponse,
  type GetCostHistoryResponse,
  type GetCostSummaryResponse,
  type GetProviderBreakdownResponse,
} from "../gen/costtracking/v1/aggregation.js";
import {
  DeleteBudgetRequest,
  GetBudgetStatusRequest,
  ListBudgetsRequest,
  SetBudgetRequest,
  type DeleteBudgetResponse,
  type GetBudgetStatusResponse,
  type ListBudgetsResponse,
  type SetBudgetResponse,
} from "../gen/costtracking/v1/budget.js";
import { WatchStatsRequest, type WatchStatsResponse } from "../gen/costtracking/v1/watch.js";
import { ExportEventsRequest, type ExportEventsResponse, type LedgerEvent } from "../gen/costtracking/v1/export.js";
import { BadRequest, ErrorInfo } from "../gen/google/rpc/error_details.js";
import { Status } from "../gen/google/rpc/status.js";

export { CostTotals, EventFilter, GroupTotals, PeriodTotals, TimeWindow } from "../gen/costtracking/v1/aggregation.js";
export {
  AggregateByAgentRequest,
  AggregateByAgentResponse,
  AggregateByUserRequest,
  AggregateByUserResponse,
  AggregateCostsRequest,
  AggregateCostsResponse,
  AggregateRow,
  CostTrend,
  DailyCost,
  GetCostHistoryRequest,
  GetCostHistoryResponse,
  GetCostSummaryRequest,
  GetCostSummaryResponse,
  GetProviderBreakdownRequest,
  GetProviderBreakdownResponse,
  ProviderTotals,
  ShareOfTotal,
} from "../gen/costtracking/v1/aggregation.js";
export {
  Budget,
  BudgetAlert,
  BudgetScope,
  BudgetScopeKind,
  BudgetStatusLevel,
  DeleteBudgetRequest,
  DeleteBudgetResponse,
  GetBudgetStatusRequest,
  GetBudgetStatusResponse,
  ListBudgetsRequest,
  ListBudgetsResponse,
  SetBudgetRequest,
  SetBudgetResponse,
} from "../gen/costtracking/v1/budget.js";
export {
  AggregateByPeriodRequest,
  AggregateByPeriodResponse,
  AggregateByTaskRequest,
  AggregateByTaskResponse,
  CalculateCostRequest,
  CalculateCostResponse,
  EventRecord,
  GetStatsRequest,
  IngestEventsRequest,
  GetStatsResponse,
  TrackAgentExecutionRequest,
  TrackAgentExecutionResponse,
  TrackApiCallRequest,
  TrackApiCallResponse,
  TrackEventsRequest,
  type DeepPartial,
} from "../gen/costtracking/v1/cost_tracking_service.js";
export {
  CostEstimateItem,
  CostHistoryBasis,
  CostHistoryStats,
  CostLineItem,
  EstimateCostRequest,
  EstimateCostResponse,
  ExpectedModelUsage,
  ExpectedUsageBasis,
  ListModelPricesRequest,
  ListModelPricesResponse,
  ModelPrice,
  PhasePlanBasis,
  PlannedPhase,
  PriceRates,
  PriceRef,
  PriceResolution,
  QualityPreset,
  RateUnit,
  TokenKind,
  UpsertModelPriceRequest,
  UpsertModelPriceResponse,
} from "../gen/costtracking/v1/pricing.js";
export {
  AnthropicUsage,
  GeminiUsageMetadata,
  OpenAiChatUsage,
  OpenAiResponsesUsage,
  Usage,
} from "../gen/costtracking/v1/usage.js";
export { ExportEventsRequest, ExportEventsResponse, LedgerEvent } from "../gen/costtracking/v1/export.js";
export {
  EventStatus,
  IngestEventsResponse,
  IngestSummary,
  RejectedEvent,
  TrackEventsResponse,
} from "../gen/costtracking/v1/ledger.js";
export {
  WatchBudget,
  WatchBudgetAlert,
  WatchBudgetLevel,
  WatchBudgetScope,
  WatchBudgetThreshold,
  WatchGroupBy,
  WatchHeartbeat,
  WatchSnapshot,
  WatchStats,
  WatchStatsRequest,
  WatchStatsResponse,
} from "../gen/costtracking/v1/watch.js";
export type { Duration } from "../gen/google/protobuf/duration.js";
export type { Timestamp } from "../gen/google/protobuf/timestamp.js";
export { CostTracker, type TrackerCounters, type TrackerOptions } from "./tracker.js";

/** A failed call: the gRPC code, the service's stable reason (ErrorInfo) and any field violations. */
export class CostTrackingError extends Error {
  override name = "CostTrackingError";
  constructor(
    message: string,
    /** The gRPC status code (see `status` of @grpc/grpc-js). */
    readonly code: status,
    /** The stable UPPER_SNAKE_CASE reason, e.g. "INVALID_FIELD" or "REQUEST_ID_REUSED"; "" when the server sent none. */
    readonly reason: string,
    /** For INVALID_ARGUMENT: every field that was wrong, with why. */
    readonly fieldViolations: ReadonlyArray<{ field: string; description: string }>,
    /** The ErrorInfo metadata. */
    readonly metadata: Readonly<Record<string, string>>,
  ) {
    super(message);
  }

  /** Decodes a grpc-js error, including the google.rpc.Status in grpc-status-details-bin. */
  static from(error: ServiceError): CostTrackingError {
    let reason = "";
    let metadata: Record<string, string> = {};
    const fieldViolations: Array<{ field: string; description: string }> = [];
    const [detailsBin] = error.metadata?.get("grpc-status-details-bin") ?? [];
    if (detailsBin instanceof Buffer) {
      for (const detail of Status.decode(detailsBin).details) {
        if (detail.typeUrl.endsWith("/google.rpc.ErrorInfo")) {
          const info = ErrorInfo.decode(detail.value);
          reason = info.reason;
          metadata = info.metadata;
        } else if (detail.typeUrl.endsWith("/google.rpc.BadRequest")) {
          for (const v of BadRequest.decode(detail.value).fieldViolations) {
            fieldViolations.push({ field: v.field, description: v.description });
          }
        }
      }
    }
    return new CostTrackingError(error.details || error.message, error.code, reason, fieldViolations, metadata);
  }
}

export interface ClientOptions {
  /**
   * Channel credentials; default insecure (plaintext), as for a local server. For TLS:
   * `credentials.createSsl(caPem)`, and for mutual TLS `credentials.createSsl(caPem, keyPem, certPem)` (@grpc/grpc-js).
   */
  credentials?: ChannelCredentials;
  /** A bearer token, sent as "authorization: Bearer <token>" on every call when the server has authentication on. */
  token?: string;
  /** The deadline of each attempt, in milliseconds. Default 10,000. */
  deadlineMs?: number;
  /** How many times a call is tried in all when the server is UNAVAILABLE or an attempt's deadline passes. Default 4. */
  maxAttempts?: number;
  /** The first retry's delay in milliseconds; it doubles per retry, with full jitter. Default 100. */
  initialBackoffMs?: number;
}

/** How a watch stream behaves across failures. */
export interface WatchOptions {
  /** Ends the stream: the iterator finishes quietly. Breaking out of `for await` does the same. */
  signal?: AbortSignal;
  /** How many reconnections in a row may fail (no message received) before the iterator throws. Default: no limit. */
  maxReconnects?: number;
  /** The first reconnection's delay ceiling in milliseconds; it doubles per failure, with full jitter. Default 100. */
  initialBackoffMs?: number;
  /** The largest reconnection delay in milliseconds. Default 5,000. */
  maxBackoffMs?: number;
  /** Told before each reconnection, with the error that ended the previous stream. */
  onReconnect?: (error: CostTrackingError, attempt: number) => void;
}

/** The stream errors a watch reconnects after: the server or the network went away, not the request. */
const RECONNECT_CODES: ReadonlySet<status> = new Set([status.UNAVAILABLE]);

/** The promise-based API of CostTrackingService. */
export interface CostTrackingClient {
  calculateCost(request: DeepPartial<CalculateCostRequest>): Promise<CalculateCostResponse>;
  /** Records an API call. A request_id is generated when none is given, so the client's own retries never double count. */
  trackApiCall(request: DeepPartial<TrackApiCallRequest>): Promise<TrackApiCallResponse>;
  /** Records an agent execution, with a generated request_id when none is given. */
  trackAgentExecution(request: DeepPartial<TrackAgentExecutionRequest>): Promise<TrackAgentExecutionResponse>;
  /**
   * Records many events (API calls and agent executions) over one client stream, reading them from an iterable or
   * async iterable as the server takes them (a fast source is slowed down, memory stays bounded). A request_id is
   * generated for every event that has none. Resolves with the counts and the rejected events' positions (0-based,
   * counted over all events) once the server has committed them. A stream is not retried: on UNAVAILABLE send the
   * same events again (with the same request ids), and those already stored count as duplicates.
   */
  ingestEvents(events: EventSource, options?: IngestOptions): Promise<IngestEventsResponse>;
  /** Records up to 10,000 events in one request; request ids are generated for events that have none. */
  trackEvents(request: DeepPartial<TrackEventsRequest>): Promise<TrackEventsResponse>;
  aggregateByTask(request: DeepPartial<AggregateByTaskRequest>): Promise<AggregateByTaskResponse>;
  aggregateByPeriod(request: DeepPartial<AggregateByPeriodRequest>): Promise<AggregateByPeriodResponse>;
  getStats(request: DeepPartial<GetStatsRequest>): Promise<GetStatsResponse>;
  /** Lists a page of the price catalog; pass next_page_token back as page_token for the next page. */
  listModelPrices(request: DeepPartial<ListModelPricesRequest>): Promise<ListModelPricesResponse>;
  /** Adds a price version (idempotent: an equal version already in force adds nothing). */
  upsertModelPrice(request: DeepPartial<UpsertModelPriceRequest>): Promise<UpsertModelPriceResponse>;
  /** Estimates a task's cost from expected usage, a legacy phase plan or preset, or past tasks. */
  estimateCost(request: DeepPartial<EstimateCostRequest>): Promise<EstimateCostResponse>;
  aggregateCosts(request: DeepPartial<AggregateCostsRequest>): Promise<AggregateCostsResponse>;
  aggregateByAgent(request: DeepPartial<AggregateByAgentRequest>): Promise<AggregateByAgentResponse>;
  aggregateByUser(request: DeepPartial<AggregateByUserRequest>): Promise<AggregateByUserResponse>;
  getProviderBreakdown(request: DeepPartial<GetProviderBreakdownRequest>): Promise<GetProviderBreakdownResponse>;
  getCostSummary(request: DeepPartial<GetCostSummaryRequest>): Promise<GetCostSummaryResponse>;
  getCostHistory(request: DeepPartial<GetCostHistoryRequest>): Promise<GetCostHistoryResponse>;
  getBudgetStatus(request: DeepPartial<GetBudgetStatusRequest>): Promise<GetBudgetStatusResponse>;
  setBudget(request: DeepPartial<SetBudgetRequest>): Promise<SetBudgetResponse>;
  listBudgets(request?: DeepPartial<ListBudgetsRequest>): Promise<ListBudgetsResponse>;
  deleteBudget(request: DeepPartial<DeleteBudgetRequest>): Promise<DeleteBudgetResponse>;
  /**
   * Live statistics, as an async iterator: a full snapshot first, then a full snapshot whenever the answer changes,
   * heartbeats and budget alerts. When the stream fails with UNAVAILABLE (a server restart or shutdown, a network
   * cut) it reconnects with jittered backoff and resumes with a fresh snapshot (its `sequence` starts again at 1);
   * any other error (INVALID_ARGUMENT, RESOURCE_EXHAUSTED for a consumer that stopped reading) is thrown as a
   * CostTrackingError. The iterator applies back-pressure: a consumer that reads slowly gets coalesced snapshots.
   *
   * @example
   * for await (const message of client.watchStats({ period: "today", groupBy: WatchGroupBy.WATCH_GROUP_BY_PROVIDER })) {
   *   if (message.snapshot) render(message.snapshot);
   * }
   */
  watchStats(request: DeepPartial<WatchStatsRequest>, options?: WatchOptions): AsyncIterable<WatchStatsResponse>;
  /**
   * The ledger's events that match a filter, in time order, as an async iterator of events (the server sends them
   * in chunks of page_size and reads the next chunk only when this side takes it, so memory stays bounded). No
   * deadline: an export takes as long as its size. Breaking out of the loop cancels the stream.
   */
  exportEvents(request: DeepPartial<ExportEventsRequest>): AsyncIterable<LedgerEvent>;
  /** Closes the channel. */
  close(): void;
}

/** The events of an ingestion: any iterable or async iterable of event records. */
export type EventSource = Iterable<DeepPartial<EventRecord>> | AsyncIterable<DeepPartial<EventRecord>>;

export interface IngestOptions {
  /** How many events go in one stream message. Default 100: few enough to stream smoothly, enough to amortise. */
  eventsPerMessage?: number;
  /** A deadline for the whole stream, in milliseconds. Default: none (a stream takes as long as its source). */
  deadlineMs?: number;
}

/** An event record with a request id: the caller's, or a new UUID, so that a resend never double counts. */
function withRequestId(record: DeepPartial<EventRecord>): EventRecord {
  const full = EventRecord.fromPartial(record);
  if (full.apiCall && !full.apiCall.requestId) full.apiCall.requestId = randomUUID();
  if (full.agentExecution && !full.agentExecution.requestId) full.agentExecution.requestId = randomUUID();
  return full;
}

type Callback<Res> = (error: ServiceError | null, response: Res) => void;
type RawMethod<Req, Res> = (request: Req, metadata: Metadata, options: { deadline: Date }, callback: Callback<Res>) => unknown;

/** Connects to a CostTrackingService at host:port. The connection is made lazily, on the first call. */
export function createCostTrackingClient(address: string, options: ClientOptions = {}): CostTrackingClient {
  const raw = new CostTrackingServiceClient(address, options.credentials ?? grpcCredentials.createInsecure());
  const deadlineMs = options.deadlineMs ?? 10_000;
  const maxAttempts = options.maxAttempts ?? 4;
  const initialBackoffMs = options.initialBackoffMs ?? 100;
  const callMetadata = () => {
    const metadata = new Metadata();
    if (options.token) metadata.set("authorization", `Bearer ${options.token}`);
    return metadata;
  };

  async function invoke<Req, Res>(method: RawMethod<Req, Res>, request: Req): Promise<Res> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await new Promise<Res>((resolve, reject) => {
          method.call(raw, request, callMetadata(), { deadline: new Date(Date.now() + deadlineMs) }, (error, response) =>
            error ? reject(error) : resolve(response),
          );
        });
      } catch (thrown) {
        const error = thrown as ServiceError;
        // Every unary RPC is safe to repeat: reads have no effects, and writes carry a request_id fixed before the
        // first attempt, so a retry of a write that did commit returns the original, marked duplicate.
        const retryable = error.code === status.UNAVAILABLE || error.code === status.DEADLINE_EXCEEDED;
        if (!retryable || attempt >= maxAttempts) throw CostTrackingError.from(error);
        await new Promise((r) => setTimeout(r, Math.random() * initialBackoffMs * 2 ** (attempt - 1)));
      }
    }
  }

  async function* watch(request: WatchStatsRequest, options: WatchOptions): AsyncGenerator<WatchStatsResponse> {
    const { signal } = options;
    const initial = options.initialBackoffMs ?? initialBackoffMs;
    const ceiling = options.maxBackoffMs ?? 5_000;
    let failures = 0;
    while (!signal?.aborted) {
      const call = raw.watchStats(request, callMetadata());
      const cancel = () => call.cancel();
      signal?.addEventListener("abort", cancel, { once: true });
      try {
        for await (const message of call as AsyncIterable<WatchStatsResponse>) {
          failures = 0;
          yield message;
        }
        return;
      } catch (thrown) {
        if (signal?.aborted) return;
        const error = CostTrackingError.from(thrown as ServiceError);
        failures++;
        if (!RECONNECT_CODES.has(error.code) || failures > (options.maxReconnects ?? Infinity)) throw error;
        options.onReconnect?.(error, failures);
        const delay = Math.random() * Math.min(ceiling, initial * 2 ** (failures - 1));
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, delay);
          function done() {
            clearTimeout(timer);
            signal?.removeEventListener("abort", done);
            resolve();
          }
          signal?.addEventListener("abort", done, { once: true });
        });
      } finally {
        signal?.removeEventListener("abort", cancel);
        call.cancel();
      }
    }
  }

  return {
    calculateCost: (request) => invoke(raw.calculateCost, CalculateCostRequest.fromPartial(request)),
    trackApiCall: (request) =>
      invoke(raw.trackApiCall, TrackApiCallRequest.fromPartial({ ...request, requestId: request.requestId || randomUUID() })),
    trackAgentExecution: (request) =>
      invoke(
        raw.trackAgentExecution,
        TrackAgentExecutionRequest.fromPartial({ ...request, requestId: request.requestId || randomUUID() }),
      ),
    ingestEvents: (events, ingestOptions = {}) =>
      new Promise<IngestEventsResponse>((resolve, reject) => {
        const perMessage = Math.max(1, ingestOptions.eventsPerMessage ?? 100);
        const callOptions = ingestOptions.deadlineMs ? { deadline: new Date(Date.now() + ingestOptions.deadlineMs) } : {};
        let done = false;
        const stream = raw.ingestEvents(callMetadata(), callOptions, (error, response) => {
          done = true;
          if (error) reject(CostTrackingError.from(error));
          else resolve(response);
        });
        const ended = new Promise<void>((r) => stream.once("status", () => r()));
        const send = async (batch: EventRecord[]) => {
          // write() returning false means the server is not keeping up: wait until it drains (or the call ends).
          if (!stream.write({ events: batch } satisfies IngestEventsRequest)) {
            await Promise.race([once(stream, "drain"), ended]);
          }
        };
        void (async () => {
          let batch: EventRecord[] = [];
          for await (const record of events) {
            if (done) return;
            batch.push(withRequestId(record));
            if (batch.length >= perMessage) {
              await send(batch);
              batch = [];
            }
          }
          if (batch.length > 0) await send(batch);
          stream.end();
        })().catch((error: unknown) => {
          // The source failed: cancel the call, so the server does not take a partial stream for a whole one.
          stream.cancel();
          reject(error);
        });
      }),
    trackEvents: (request) =>
      invoke(raw.trackEvents, TrackEventsRequest.fromPartial({ events: (request.events ?? []).map(withRequestId) })),
    aggregateByTask: (request) => invoke(raw.aggregateByTask, AggregateByTaskRequest.fromPartial(request)),
    aggregateByPeriod: (request) => invoke(raw.aggregateByPeriod, AggregateByPeriodRequest.fromPartial(request)),
    getStats: (request) => invoke(raw.getStats, GetStatsRequest.fromPartial(request)),
    listModelPrices: (request) => invoke(raw.listModelPrices, ListModelPricesRequest.fromPartial(request)),
    upsertModelPrice: (request) => invoke(raw.upsertModelPrice, UpsertModelPriceRequest.fromPartial(request)),
    estimateCost: (request) => invoke(raw.estimateCost, EstimateCostRequest.fromPartial(request)),
    aggregateCosts: (request) => invoke(raw.aggregateCosts, AggregateCostsRequest.fromPartial(request)),
    aggregateByAgent: (request) => invoke(raw.aggregateByAgent, AggregateByAgentRequest.fromPartial(request)),
    aggregateByUser: (request) => invoke(raw.aggregateByUser, AggregateByUserRequest.fromPartial(request)),
    getProviderBreakdown: (request) => invoke(raw.getProviderBreakdown, GetProviderBreakdownRequest.fromPartial(request)),
    getCostSummary: (request) => invoke(raw.getCostSummary, GetCostSummaryRequest.fromPartial(request)),
    getCostHistory: (request) => invoke(raw.getCostHistory, GetCostHistoryRequest.fromPartial(request)),
    getBudgetStatus: (request) => invoke(raw.getBudgetStatus, GetBudgetStatusRequest.fromPartial(request)),
    setBudget: (request) => invoke(raw.setBudget, SetBudgetRequest.fromPartial(request)),
    listBudgets: (request = {}) => invoke(raw.listBudgets, ListBudgetsRequest.fromPartial(request)),
    deleteBudget: (request) => invoke(raw.deleteBudget, DeleteBudgetRequest.fromPartial(request)),
    watchStats: (request, options = {}) => watch(WatchStatsRequest.fromPartial(request), options),
    exportEvents: (request) => ({
      async *[Symbol.asyncIterator]() {
        const stream = raw.exportEvents(ExportEventsRequest.fromPartial(request), callMetadata());
        try {
          for await (const chunk of stream as AsyncIterable<ExportEventsResponse>) yield* chunk.events;
        } catch (error) {
          throw CostTrackingError.from(error as ServiceError);
        } finally {
          stream.cancel();
        }
      },
    }),
    close: () => raw.close(),
  };
}
