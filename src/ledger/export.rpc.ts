import { once } from "node:events";
import type { ServerWritableStream } from "@grpc/grpc-js";
import type { Kysely } from "kysely";
import type { CostTrackingServiceServer } from "../../gen/costtracking/v1/cost_tracking_service.js";
import type { ExportEventsRequest, ExportEventsResponse, LedgerEvent } from "../../gen/costtracking/v1/export.js";
import { EventStatus as ProtoEventStatus } from "../../gen/costtracking/v1/ledger.js";
import type { Database } from "../db/schema.js";
import { Violations } from "../errors.js";
import type { Logger } from "../logger.js";
import { formatMoney, Money } from "../money.js";
import { filterFromProto, instantToProto } from "../rpc/convert.js";
import { logFailure } from "../rpc/handlers.js";
import { toGrpcError } from "../rpc/status.js";
import { exportEventPages, type ExportedEvent } from "./export.repository.js";

const DEFAULT_PAGE_SIZE = 1_000;
const MAX_PAGE_SIZE = 10_000;

const STATUS: Record<ExportedEvent["status"], ProtoEventStatus> = {
  succeeded: ProtoEventStatus.EVENT_STATUS_SUCCEEDED,
  failed: ProtoEventStatus.EVENT_STATUS_FAILED,
  cancelled: ProtoEventStatus.EVENT_STATUS_CANCELLED,
};

export function ledgerEventToProto(row: ExportedEvent): LedgerEvent {
  return {
    eventId: row.id,
    requestId: row.request_id,
    kind: row.kind,
    occurredTime: instantToProto(row.occurred_at),
    recordedTime: instantToProto(row.recorded_at),
    taskId: row.task_id ?? "",
    agentId: row.agent_id ?? "",
    agentExecutionId: row.agent_execution_id ?? "",
    userId: row.user_id ?? "",
    operation: row.operation ?? "",
    model: row.model ?? "",
    provider: row.provider ?? "",
    endpoint: row.endpoint ?? "",
    usage: {
      inputTokens: String(row.input_tokens),
      cacheReadInputTokens: String(row.cache_read_input_tokens),
      cacheWriteInputTokens: String(row.cache_write_input_tokens),
      outputTokens: String(row.output_tokens),
      reasoningOutputTokens: String(row.reasoning_output_tokens),
    },
    ...(row.cost_usd === null ? {} : { costUsd: formatMoney(new Money(String(row.cost_usd))) }),
    priceId: row.price_id ?? "",
    costSource: row.cost_source ?? (row.price_id ? "catalog" : ""),
    durationMs: String(row.duration_ms),
    status: STATUS[row.status],
    errorMessage: row.error_message ?? "",
  };
}

/**
 * ExportEvents: validates the request, then writes the ledger page by page, waiting for the client to take each
 * chunk (flow control) before reading the next, and stopping when the client cancels.
 */
export function exportRpc(db: Kysely<Database>, logger: Logger): Pick<CostTrackingServiceServer, "exportEvents"> {
  return {
    exportEvents: (call: ServerWritableStream<ExportEventsRequest, ExportEventsResponse>) => {
      const started = performance.now();
      void (async () => {
        const violations = new Violations();
        const filter = filterFromProto(call.request.filter, "filter", violations);
        const pageSize = call.request.pageSize === 0 ? DEFAULT_PAGE_SIZE : call.request.pageSize;
        if (pageSize < 1 || pageSize > MAX_PAGE_SIZE) violations.add("page_size", `must be 1 to ${MAX_PAGE_SIZE}, got ${pageSize}`);
        violations.throwIfAny();
        for await (const page of exportEventPages(db, filter, pageSize)) {
          if (call.cancelled) return;
          if (!call.write({ events: page.map(ledgerEventToProto) })) await Promise.race([once(call, "drain"), once(call, "cancelled")]);
        }
        call.end();
        logger.debug("request", { method: "ExportEvents", code: "OK", ms: Math.round(performance.now() - started) });
      })().catch((thrown: unknown) => {
        const error = toGrpcError(thrown);
        logFailure(logger, "ExportEvents", error.code, thrown, performance.now() - started);
        call.emit("error", error);
      });
    },
  };
}
