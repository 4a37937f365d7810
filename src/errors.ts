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
