import { UnavailableError } from "../errors.js";

/** Node socket errors that mean the database cannot be reached. */
const CONNECTION_ERROR_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EHOSTUNREACH"]);

/**
 * 55P03 lock_not_available: one of the service's own short lock timeouts gave up (creating a month's partition
 * behind a long query, for example). Nothing was written; the same request succeeds a moment later.
 */
const LOCK_NOT_AVAILABLE = "55P03";

/**
 * Translates a driver error into a domain error when it means "the database is unavailable": a refused or lost
 * connection, a server shutting down (57P01-57P03), too many connections (53300), a lock timeout (55P03), SQLSTATE class 08, or a pool
 * that timed out waiting for a connection. Anything else is returned unchanged (and becomes INTERNAL).
 */
export function translateDatabaseError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const code = (error as { code?: unknown }).code;
  const unavailable =
    (typeof code === "string" &&
      (CONNECTION_ERROR_CODES.has(code) || code.startsWith("08") || ["57P01", "57P02", "57P03", "53300", LOCK_NOT_AVAILABLE].includes(code))) ||
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
      error.message,
    );
  return unavailable ? new UnavailableError("the ledger database is unavailable; retry shortly") : error;
}
