import type {
  CostTrackingServiceServer,
  TrackAgentExecutionRequest,
  TrackAgentExecutionResponse,
  TrackApiCallRequest,
  TrackApiCallResponse,
} from "../../gen/costtracking/v1/cost_tracking_service.js";
import { Violations } from "../errors.js";
import type { Logger } from "../logger.js";
import { formatMoney } from "../money.js";
import { instantFromProto, priceRefToProto, statusFromProto, usageShapeFromProto } from "../rpc/convert.js";
import { unary } from "../rpc/handlers.js";
import { identifier, nonNegativeInt64, text } from "../validation.js";
import type { NewAgentExecution, NewApiCall } from "./ledger-event.js";
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
    durationMs: nonNegativeInt64(request.durationMs, "duration_ms", violations),
    status: statusFromProto(request.status, "status", violations),
    errorMessage: text(request.errorMessage, "error_message", 2000, violations),
  };
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
    durationMs: nonNegativeInt64(request.durationMs, "duration_ms", violations),
    status: statusFromProto(request.status, "status", violations),
    errorMessage: text(request.errorMessage, "error_message", 2000, violations),
  };
}

export function ledgerRpc(
  ledger: LedgerService,
  logger: Logger,
): Pick<CostTrackingServiceServer, "trackApiCall" | "trackAgentExecution"> {
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
  };
}
