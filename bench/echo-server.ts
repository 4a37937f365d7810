// The transport's floor for the ingestion benchmark: a trivial unary RPC on the same grpc-js stack as the service,
// which decodes a TrackApiCallRequest and sends the same message back. Run as its own process, like the service:
// `tsx bench/echo-server.ts <port>`; prints "ready" when it listens.
import { Server, ServerCredentials, makeGenericClientConstructor, type ServiceDefinition } from "@grpc/grpc-js";
import { TrackApiCallRequest } from "../gen/costtracking/v1/cost_tracking_service.js";

const encode = (message: TrackApiCallRequest) => Buffer.from(TrackApiCallRequest.encode(message).finish());
const decode = (bytes: Buffer) => TrackApiCallRequest.decode(bytes);

export const ECHO_SERVICE: ServiceDefinition = {
  echo: {
    path: "/bench.v1.EchoService/Echo",
    requestStream: false,
    responseStream: false,
    requestSerialize: encode,
    requestDeserialize: decode,
    responseSerialize: encode,
    responseDeserialize: decode,
  },
};

/** A client constructor for the echo service. */
export const EchoClient = makeGenericClientConstructor(ECHO_SERVICE, "EchoService");

if (process.argv[1]?.endsWith("echo-server.ts")) {
  const port = Number(process.argv[2]);
  const server = new Server();
  server.addService(ECHO_SERVICE, {
    echo: (call: { request: TrackApiCallRequest }, callback: (error: null, response: TrackApiCallRequest) => void) =>
      callback(null, call.request),
  });
  server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (error) => {
    if (error) throw error;
    console.log("ready");
  });
  process.on("SIGTERM", () => server.forceShutdown());
}
