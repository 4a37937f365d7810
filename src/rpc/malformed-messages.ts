import {
  ResponderBuilder,
  ServerInterceptingCall,
  ServerListenerBuilder,
  type ServerInterceptor,
  type ServiceDefinition,
} from "@grpc/grpc-js";
import { ValidationError } from "../errors.js";
import { toGrpcError } from "./status.js";

/** Stands in for a request that could not be decoded, so the interceptor below can refuse it properly. */
class MalformedMessage {
  constructor(readonly problem: string) {}
}

/**
 * grpc-js answers an undecodable request with INTERNAL, which says "our fault" and invites retries. It is the
 * caller's fault: the service's deserializers are wrapped to hand a MalformedMessage on instead of throwing...
 */
export function withTolerantDeserializers<T extends ServiceDefinition>(definition: T): T {
  return Object.fromEntries(
    Object.entries(definition).map(([name, method]) => [
      name,
      {
        ...method,
        requestDeserialize: (bytes: Buffer) => {
          try {
            return method.requestDeserialize(bytes);
          } catch (error) {
            return new MalformedMessage(error instanceof Error ? error.message : String(error));
          }
        },
      },
    ]),
  ) as T;
}

/** ...and this interceptor answers it with INVALID_ARGUMENT (reason MALFORMED_MESSAGE), in unary calls and streams alike. */
export const malformedMessageInterceptor: ServerInterceptor = (_method, call) => {
  const listener = new ServerListenerBuilder()
    .withOnReceiveMessage((message, next) => {
      if (!(message instanceof MalformedMessage)) return next(message);
      const error = toGrpcError(
        new ValidationError([{ field: "(message)", description: `not a valid protobuf message: ${message.problem}` }], "MALFORMED_MESSAGE"),
      );
      call.sendStatus({ code: error.code, details: error.details, metadata: error.metadata });
    })
    .build();
  return new ServerInterceptingCall(call, new ResponderBuilder().withStart((next) => next(listener)).build());
};
