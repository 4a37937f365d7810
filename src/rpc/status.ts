import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { Any } from "../../gen/google/protobuf/any.js";
import { BadRequest, ErrorInfo, QuotaFailure, RetryInfo } from "../../gen/google/rpc/error_details.js";
import { Status } from "../../gen/google/rpc/status.js";
import { translateDatabaseError } from "../db/pg-errors.js";
import {
  DomainError,
  PermissionDeniedError,
  PriceVersionExistsError,
  QuotaExceededError,
  RequestIdPastRetentionError,
  RequestIdReusedError,
  UnauthenticatedError,
  UnavailableError,
  ValidationError,
} from "../errors.js";
import { ConsumerTooSlowError, ServerShuttingDownError } from "../errors.js";

/** The ErrorInfo domain of every error this service returns. */
export const ERROR_DOMAIN = "costtracking.v1";

const pack = (typeName: string, value: Uint8Array): Any => ({
  typeUrl: `type.googleapis.com/${typeName}`,
  value: Buffer.from(value),
});

/** The gRPC code of each domain error; anything unlisted is a bug and becomes INTERNAL. */
function codeOf(error: DomainError): status {
  if (error instanceof ValidationError || error instanceof RequestIdReusedError) return status.INVALID_ARGUMENT;
  if (error instanceof UnavailableError) return status.UNAVAILABLE;
  if (error instanceof UnauthenticatedError) return status.UNAUTHENTICATED;
  if (error instanceof PermissionDeniedError) return status.PERMISSION_DENIED;
  if (error instanceof QuotaExceededError) return status.RESOURCE_EXHAUSTED;
  if (error instanceof PriceVersionExistsError || error instanceof RequestIdPastRetentionError) return status.ALREADY_EXISTS;
  if (error instanceof ServerShuttingDownError) return status.UNAVAILABLE;
  if (error instanceof ConsumerTooSlowError) return status.RESOURCE_EXHAUSTED;
  return status.INTERNAL;
}

/**
 * The one boundary from errors to gRPC statuses. The status carries a google.rpc.Status in
 * `grpc-status-details-bin` with an ErrorInfo (stable reason, domain, metadata), plus BadRequest field violations
 * for validation errors and RetryInfo for UNAVAILABLE. Internal causes are never sent, only logged by the caller.
 */
export function toGrpcError(thrown: unknown): ServiceError {
  const error = translateDatabaseError(thrown);
  const domain = error instanceof DomainError ? error : undefined;
  const code = domain ? codeOf(domain) : status.INTERNAL;
  const message = domain ? domain.message : "internal error";
  const reason = domain ? domain.reason : "INTERNAL";
  const details: Any[] = [
    pack(
      "google.rpc.ErrorInfo",
      ErrorInfo.encode({ reason, domain: ERROR_DOMAIN, metadata: domain?.metadata ?? {} }).finish(),
    ),
  ];
  if (error instanceof ValidationError) {
    const fieldViolations = error.violations.map((v) => ({ field: v.field, description: v.description, reason: error.reason }));
    details.push(pack("google.rpc.BadRequest", BadRequest.encode({ fieldViolations }).finish()));
  }
  if (error instanceof QuotaExceededError) {
    const violations = [{ subject: error.subject, description: error.message }];
    details.push(pack("google.rpc.QuotaFailure", QuotaFailure.encode({ violations }).finish()));
  }
  const retryAfterMs = error instanceof UnavailableError ? 1000 : error instanceof QuotaExceededError ? error.retryAfterMs : undefined;
  if (retryAfterMs !== undefined) {
    const retryDelay = { seconds: String(Math.floor(retryAfterMs / 1000)), nanos: (retryAfterMs % 1000) * 1_000_000 };
    details.push(pack("google.rpc.RetryInfo", RetryInfo.encode({ retryDelay }).finish()));
  }
  const metadata = new Metadata();
  metadata.set("grpc-status-details-bin", Buffer.from(Status.encode({ code, message, details }).finish()));
  return Object.assign(new Error(message), { code, details: message, metadata });
}
