import {
  ResponderBuilder,
  ServerInterceptingCall,
  ServerListenerBuilder,
  type ServerInterceptor,
} from "@grpc/grpc-js";
import type { Logger } from "../logger.js";
import { toGrpcError } from "../rpc/status.js";
import type { AccessPolicy, Caller } from "./access-policy.js";

/**
 * The one gate in front of CostTrackingService: every call's metadata passes the access policy before its handler
 * runs, and streams are counted until they end however they end. Health and reflection are not gated, so probes
 * and engineers' tools always work (reflection can be switched off with REFLECTION=off).
 */
export function accessInterceptor(serviceName: string, policy: AccessPolicy, logger: Logger): ServerInterceptor {
  return (methodDescriptor, call) => {
    const [, service, method = ""] = methodDescriptor.path.split("/");
    if (service !== serviceName) return new ServerInterceptingCall(call);
    const isStream = methodDescriptor.requestStream || methodDescriptor.responseStream;
    let openStream: Caller | undefined;
    const release = () => {
      if (openStream) policy.closeStream(openStream);
      openStream = undefined;
    };
    const listener = new ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        try {
          const [authorization] = metadata.get("authorization");
          const caller = policy.admit(method, typeof authorization === "string" ? authorization : undefined, call.getPeer());
          if (isStream) {
            policy.openStream(caller);
            openStream = caller;
          }
          next(metadata);
        } catch (thrown) {
          const error = toGrpcError(thrown);
          logger.warn("request refused", { method, code: error.code, error: error.message, peer: call.getPeer() });
          call.sendStatus({ code: error.code, details: error.details, metadata: error.metadata });
        }
      })
      .withOnCancel(release)
      .build();
    const responder = new ResponderBuilder()
      .withStart((next) => next(listener))
      .withSendStatus((status, next) => {
        release();
        next(status);
      })
      .build();
    return new ServerInterceptingCall(call, responder);
  };
}
