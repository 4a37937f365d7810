import { createServer, connect, type Socket } from "node:net";

/**
 * A TCP proxy in front of a server that can lose replies: while `dropReplies` is on, everything the client sends
 * still reaches the server, but nothing the server sends back reaches the client. It stands in for a network that
 * drops a response after the server has done the work.
 */
export interface LossyProxy {
  readonly address: string;
  dropReplies: boolean;
  close(): Promise<void>;
}

export async function startLossyProxy(target: { host: string; port: number }): Promise<LossyProxy> {
  const sockets = new Set<Socket>();
  const proxy: LossyProxy = { address: "", dropReplies: false, close };
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on("data", (chunk) => upstream.write(chunk));
    upstream.on("data", (chunk) => {
      if (!proxy.dropReplies) client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  Object.assign(proxy, { address: `127.0.0.1:${port}` });

  function close(): Promise<void> {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => server.close(() => resolve()));
  }
  return proxy;
}
