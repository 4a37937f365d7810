import type {
  CostTrackingServiceServer,
  EventRecord,
  IngestEventsRequest,
  TrackAgentExecutionRequest,
  TrackAgentExecutionResponse,
  TrackApiCallRequest,
  TrackApiCallResponse,
  TrackEventsRequest,
} from "../../gen/costtracking/v1/cost_tracking_service.js";
import type { IngestEventsResponse, IngestSummary as ProtoIngestSummary, TrackEventsResponse } from "../../gen/costtracking/v1/ledger.js";
import { ValidationError, Violations } from "../errors.js";
import type { Logger } from "../logger.js";
import { formatMoney, MAX_MONEY_SCALE, parseMoney } from "../money.js";
import { instantFromProto, priceRefToProto, statusFromProto, usageShapeFromProto } from "../rpc/convert.js";
import { clientStreaming, unary } from "../rpc/handlers.js";
import { IDENTIFIER_PATTERN, durationMs, identifier, text } from "../validation.js";
import type { IngestItem, IngestSummary, NewAgentExecution, NewApiCall } from "./ledger-event.js";
import type { LedgerService } from "./ledger.service.js";

/** Validates a TrackApiCallRequest into a NewApiCall; every problem is reported under its proto field name. */
export function apiCallFromProto(request: TrackApiCallRequest, violations: Violations): NewApiCall {
  return {
    requestId: identifier(request.requestId, "request_id", violations),
    callTime: instantFromProto(request.callTime, "call_time", violations),
    taskId: identifier(request.taskId, "task_id", violations),
    agentId: identifier(request.agentId, "agent_id", violations),
    agentExecutionId: identifier(request.agentExecutionId, "agent_execution_id", violations),
    userId: identifier(request.userId, "user_id", violations),
    operation: text(request.operation, "operation", 100, violations),
    model: text(request.model, "model", 200, violations, true) ?? "",
    provider: text(request.provider, "provider", 100, violations)?.toLowerCase(),
    endpoint: text(request.endpoint, "endpoint", 500, violations),
    usage: usageShapeFromProto(request, violations)!,
    durationMs: durationMs(request.durationMs, "duration_ms", violations),
    status: statusFromProto(request.status, "status", violations),
    errorMessage: text(request.errorMessage, "error_message", 2000, violations),
    recordedCostUsd: recordedCost(request.recordedCostUsd, violations),
  };
}

/** The optional recorded_cost_usd: a non-negative decimal string, exact. */
function recordedCost(value: string, violations: Violations): string | undefined {
  if (value === "") return undefined;
  const money = parseMoney(value);
  if (!money || (money.decimalPlaces() ?? 0) > MAX_MONEY_SCALE) {
    violations.add("recorded_cost_usd", `must be a non-negative decimal string such as "0.000150" with at most ${MAX_MONEY_SCALE} decimal places, got "${value.slice(0, 40)}"`);
    return undefined;
  }
  return formatMoney(money);
}

/** Validates a TrackAgentExecutionRequest into a NewAgentExecution. */
export function agentExecutionFromProto(request: TrackAgentExecutionRequest, violations: Violations): NewAgentExecution {
  return {
    requestId: identifier(request.requestId, "request_id", violations),
    agentExecutionId: identifier(request.agentExecutionId, "agent_execution_id", violations),
    agentId: identifier(request.agentId, "agent_id", violations, true) ?? "",
    taskId: identifier(request.taskId, "task_id", violations),
    userId: identifier(request.userId, "user_id", violations),
    operation: text(request.operation, "operation", 100, violations),
    startTime: instantFromProto(request.startTime, "start_time", violations),
    durationMs: durationMs(request.durationMs, "duration_ms", violations),
    status: statusFromProto(request.status, "status", violations),
    errorMessage: text(request.errorMessage, "error_message", 2000, violations),
  };
}

/** The most events one TrackEvents request may carry; larger sets go through IngestEvents. */
export const MAX_EVENTS_PER_BATCH = 10_000;

/**
 * Validates one EventRecord of a stream or batch on its own. Its violations are named from the record down
 * ("api_call.usage.input_tokens"), since the record's position is reported beside them.
 */
export function ingestItemFromProto(record: EventRecord): IngestItem {
  const violations = new Violations();
  const prefixed = (prefix: string) =>
    violations.list.map((v) => ({ field: `${prefix}.${v.field}`, description: v.description }));
  if (record.apiCall) {
    const call = apiCallFromProto(record.apiCall, violations);
    if (violations.list.length === 0) return { kind: "api_call", call };
    return { kind: "invalid", requestId: wellFormedId(record.apiCall.requestId), violations: prefixed("api_call") };
  }
  if (record.agentExecution) {
    const execution = agentExecutionFromProto(record.agentExecution, violations);
    if (violations.list.length === 0) return { kind: "agent_execution", execution };
    return {
      kind: "invalid",
      requestId: wellFormedId(record.agentExecution.requestId),
      violations: prefixed("agent_execution"),
    };
  }
  return {
    kind: "invalid",
    requestId: undefined,
    violations: [{ field: "event", description: "is required: set api_call or agent_execution" }],
  };
}

/** A request id worth echoing in a rejection: only a well-formed one (never kilobytes of junk). */
function wellFormedId(requestId: string): string | undefined {
  return IDENTIFIER_PATTERN.test(requestId) ? requestId : undefined;
}

export function ingestSummaryToProto(summary: IngestSummary): ProtoIngestSummary {
  return {
    acceptedCount: String(summary.acceptedCount),
    duplicateCount: String(summary.duplicateCount),
    rejectedCount: String(summary.rejectedCount),
    rejectedEvents: summary.rejected.map((r) => ({
      position: String(r.position),
      requestId: r.requestId ?? "",
      reason: r.reason,
      message: r.message,
      fieldViolations: r.violations.map((v) => ({ field: v.field, description: v.description, reason: r.reason })),
    })),
    omittedRejectionCount: String(summary.omittedRejectionCount),
  };
}

/** The events of a client stream, in order, each validated as it is read. */
async function* itemsOfStream(messages: AsyncIterable<IngestEventsRequest>): AsyncGenerator<IngestItem> {
  for await (const message of messages) {
    for (const record of message.events) yield ingestItemFromProto(record);
  }
}

export function ledgerRpc(
  ledger: LedgerService,
  logger: Logger,
): Pick<CostTrackingServiceServer, "trackApiCall" | "trackAgentExecution" | "ingestEvents" | "trackEvents"> {
  return {
    trackApiCall: unary("TrackApiCall", logger, async (request: TrackApiCallRequest): Promise<TrackApiCallResponse> => {
      const violations = new Violations();
      const call = apiCallFromProto(request, violations);
      violations.throwIfAny();
      const tracked = await ledger.trackApiCall(call);
      return {
        eventId: tracked.eventId,
        duplicate: tracked.duplicate,
        ...(tracked.cost ? { costUsd: formatMoney(tracked.cost) } : {}),
        unpriced: tracked.cost === undefined,
        ...(tracked.price ? { price: priceRefToProto(tracked.price) } : {}),
      };
    }),
    trackAgentExecution: unary(
      "TrackAgentExecution",
      logger,
      async (request: TrackAgentExecutionRequest): Promise<TrackAgentExecutionResponse> => {
        const violations = new Violations();
        const execution = agentExecutionFromProto(request, violations);
        violations.throwIfAny();
        return ledger.trackAgentExecution(execution);
      },
    ),
    ingestEvents: clientStreaming("IngestEvents", logger, async (call): Promise<IngestEventsResponse> => {
      const summary = await ledger.ingest(itemsOfStream(call));
      return { summary: ingestSummaryToProto(summary) };
    }),
    trackEvents: unary("TrackEvents", logger, async (request: TrackEventsRequest): Promise<TrackEventsResponse> => {
      if (request.events.length === 0 || request.events.length > MAX_EVENTS_PER_BATCH) {
        throw new ValidationError([
          {
            field: "events",
            description: `must hold 1 to ${MAX_EVENTS_PER_BATCH} events, got ${request.events.length}; stream more with IngestEvents`,
          },
        ]);
      }
      const summary = await ledger.ingest(request.events.map(ingestItemFromProto));
      return { summary: ingestSummaryToProto(summary) };
    }),
  };
}
