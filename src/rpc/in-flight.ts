import { ResponderBuilder, ServerInterceptingCall, ServerListenerBuilder, type ServerInterceptor } from "@grpc/grpc-js";

/**
 * Counts the calls a graceful shutdown must let finish: unary calls and client streams (ingestion). Server-only
 * streams (monitors, health watches) never finish by themselves, so shutdown cancels them instead of waiting.
 */
export class InFlightCalls {
  private count = 0;
  private waiters: Array<() => void> = [];

  readonly interceptor: ServerInterceptor = (method, call) => {
    if (method.responseStream && !method.requestStream) return new ServerInterceptingCall(call);
    let open = true;
    const done = () => {
      if (!open) return;
      open = false;
      this.count -= 1;
      if (this.count === 0) for (const wake of this.waiters.splice(0)) wake();
    };
    this.count += 1;
    const listener = new ServerListenerBuilder().withOnCancel(done).build();
    const responder = new ResponderBuilder()
      .withStart((next) => next(listener))
      .withSendStatus((status, next) => {
        next(status);
        done();
      })
      .build();
    return new ServerInterceptingCall(call, responder);
  };

  get size(): number {
    return this.count;
  }

  /** Resolves when no counted call is in flight. */
  drained(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}
