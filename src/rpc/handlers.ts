import type {
  handleClientStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  ServerReadableStream,
  ServerUnaryCall,
  sendUnaryData,
} from "@grpc/grpc-js";
import type { Logger } from "../logger.js";
import { toGrpcError } from "./status.js";

/**
 * Turns an async function into a grpc-js unary handler: exactly one callback, errors mapped by toGrpcError, and
 * one log line per request (debug), with failures at warn (client errors) or error (everything else).
 */
export function unary<Req, Res>(
  method: string,
  logger: Logger,
  handler: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => answer(method, logger, () => handler(call.request, call), callback);
}

/**
 * Turns an async function of a client stream into a grpc-js client-streaming handler, with the same single
 * callback, error mapping and logging as `unary`. The function reads the stream (an async iterable of messages).
 */
export function clientStreaming<Req, Res>(
  method: string,
  logger: Logger,
  handler: (call: ServerReadableStream<Req, Res>) => Promise<Res>,
): handleClientStreamingCall<Req, Res> {
  return (call, callback) => answer(method, logger, () => handler(call), callback);
}

/** Runs a handler and sends its one answer: the response, or the error mapped by toGrpcError; logs either. */
function answer<Res>(method: string, logger: Logger, run: () => Promise<Res>, callback: sendUnaryData<Res>): void {
  const started = performance.now();
  run().then(
    (response) => {
      logger.debug("request", { method, code: "OK", ms: Math.round(performance.now() - started) });
      callback(null, response);
    },
    (thrown: unknown) => {
      const error = toGrpcError(thrown);
      logFailure(logger, method, error.code, thrown, performance.now() - started);
      callback(error);
    },
  );
}

/** Logs a failed request: client errors at warn, server faults at error with their cause. */
export function logFailure(logger: Logger, method: string, code: number, thrown: unknown, ms: number): void {
  const fields = { method, code, ms: Math.round(ms), error: thrown instanceof Error ? thrown.message : String(thrown) };
  // 2 UNKNOWN, 13 INTERNAL, 14 UNAVAILABLE, 15 DATA_LOSS are ours to fix; the rest are the caller's to fix.
  if ([2, 13, 14, 15].includes(code)) {
    logger.error("request failed", { ...fields, stack: thrown instanceof Error ? thrown.stack : undefined });
  } else {
    logger.warn("request rejected", fields);
  }
}

export type { handleClientStreamingCall, handleServerStreamingCall };
