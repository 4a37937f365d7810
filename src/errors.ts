/**
 * Domain errors name what happened; `src/rpc/status.ts` alone turns them into gRPC statuses. Each carries a stable
 * UPPER_SNAKE_CASE reason that clients may branch on, and metadata that repeats the message's dynamic values.
 */
export abstract class DomainError extends Error {
  abstract readonly reason: string;
  readonly metadata: Record<string, string>;
  constructor(message: string, metadata: Record<string, string> = {}) {
    super(message);
    this.metadata = metadata;
  }
}

/** One field that failed validation, with the reason in words. */
export interface FieldViolation {
  field: string;
  description: string;
}

/** Input that breaks the documented rules. Maps to INVALID_ARGUMENT with every field violation listed. */
export class ValidationError extends DomainError {
  override name = "ValidationError";
  readonly reason: string;
  readonly violations: FieldViolation[];
  constructor(violations: FieldViolation[], reason = "INVALID_FIELD") {
    super(violations.map((v) => `${v.field}: ${v.description}`).join("; "), {
      fields: violations.map((v) => v.field).join(","),
    });
    this.reason = reason;
    this.violations = violations;
  }
}

/** A request id that was already used for different content. Maps to INVALID_ARGUMENT, reason REQUEST_ID_REUSED. */
export class RequestIdReusedError extends DomainError {
  override name = "RequestIdReusedError";
  readonly reason = "REQUEST_ID_REUSED";
  constructor(requestId: string) {
    super(`request_id: "${requestId}" was already used for a request with different content`, {
      request_id: requestId,
    });
  }
}

/**
 * A request id whose event was recorded in a month retention has since dropped: it was counted (its month's sums
 * live on in the rollups), its details are gone, and it is never recorded again. Maps to ALREADY_EXISTS, reason
 * REQUEST_ID_PAST_RETENTION.
 */
export class RequestIdPastRetentionError extends DomainError {
  override name = "RequestIdPastRetentionError";
  readonly reason = "REQUEST_ID_PAST_RETENTION";
  constructor(requestId: string, occurredAt: string) {
    super(
      `request_id: "${requestId}" was already recorded for ${occurredAt}, a month past the retention horizon whose details are no longer kept; it is not recorded again`,
      { request_id: requestId, occurred_at: occurredAt },
    );
  }
}

/** The database cannot be reached or refused the connection. Maps to UNAVAILABLE; callers may retry. */
export class UnavailableError extends DomainError {
  override name = "UnavailableError";
  readonly reason = "STORAGE_UNAVAILABLE";
}

/** A stream consumer that stopped reading: its buffer stayed full. Maps to RESOURCE_EXHAUSTED; reconnecting is up to it. */
export class ConsumerTooSlowError extends DomainError {
  override name = "ConsumerTooSlowError";
  readonly reason = "CONSUMER_TOO_SLOW";
}

/** The server is stopping and ends its long-lived streams. Maps to UNAVAILABLE: reconnect (to another replica). */
export class ServerShuttingDownError extends DomainError {
  override name = "ServerShuttingDownError";
  readonly reason = "SERVER_SHUTTING_DOWN";
}

/** Collects field violations so that a request reports all of its problems at once. */
export class Violations {
  readonly list: FieldViolation[] = [];
  add(field: string, description: string): void {
    this.list.push({ field, description });
  }
  /** Throws a ValidationError when any violation was added. */
  throwIfAny(): void {
    if (this.list.length > 0) throw new ValidationError(this.list);
  }
}

/** No valid bearer token. Maps to UNAUTHENTICATED. */
export class UnauthenticatedError extends DomainError {
  override name = "UnauthenticatedError";
  readonly reason = "UNAUTHENTICATED";
}

/** A known caller whose role does not allow the call. Maps to PERMISSION_DENIED. */
export class PermissionDeniedError extends DomainError {
  override name = "PermissionDeniedError";
  readonly reason = "PERMISSION_DENIED";
}

/** A caller over a limit (rate, open streams). Maps to RESOURCE_EXHAUSTED with RetryInfo when a wait helps. */
export class QuotaExceededError extends DomainError {
  override name = "QuotaExceededError";
  readonly reason: string;
  constructor(
    message: string,
    reason: string,
    readonly subject: string,
    /** How long to wait before retrying; undefined when waiting alone does not help. */
    readonly retryAfterMs: number | undefined,
    metadata: Record<string, string> = {},
  ) {
    super(message, metadata);
    this.reason = reason;
  }
}

/** A model already has a different price version at exactly that effective time. Maps to ALREADY_EXISTS. */
export class PriceVersionExistsError extends DomainError {
  override name = "PriceVersionExistsError";
  readonly reason = "PRICE_VERSION_EXISTS";
  constructor(model: string, provider: string, effectiveTime: string, existingId: string) {
    super(
      `${provider}/${model} already has a different price version from ${effectiveTime} (${existingId}); versions are never edited: add one with another effective_time`,
      { model, provider, effective_time: effectiveTime, price_id: existingId },
    );
  }
}
