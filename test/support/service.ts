import { createCostTrackingClient, type CostTrackingClient } from "../../client/index.js";
import { DEFAULT_CONFIG, type Config } from "../../src/config.js";
import type { Engine } from "../../src/db/database.js";
import { silentLogger } from "../../src/logger.js";
import { startService, type RunningService } from "../../src/server.js";
import type { Clock } from "../../src/time.js";
import { createTestDatabase, type TestDatabase } from "./database.js";

/** A real server on 127.0.0.1 (a free port) over a fresh database, and a typed client connected to it. */
export interface TestService {
  readonly engine: Engine;
  readonly client: CostTrackingClient;
  readonly service: RunningService;
  readonly database: TestDatabase;
  readonly address: string;
  close(): Promise<void>;
}

export async function startTestService(
  engine: Engine,
  options: { clock?: Clock; config?: Partial<Config> } = {},
): Promise<TestService> {
  const database = await createTestDatabase(engine);
  const config: Config = { ...DEFAULT_CONFIG, listenAddress: "127.0.0.1:0", shutdownGraceSeconds: 2, ...options.config };
  const service = await startService({
    config,
    logger: silentLogger,
    database,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const address = `127.0.0.1:${service.port}`;
  const client = createCostTrackingClient(address, { maxAttempts: 1 });
  return {
    engine,
    client,
    service,
    database,
    address,
    async close() {
      client.close();
      await service.close();
      await database.close();
    },
  };
}

/** A clock fixed at an instant, that tests can move. */
export function fixedClock(iso: string): Clock & { set(iso: string): void } {
  let now = new Date(iso);
  return { now: () => new Date(now), set: (next: string) => (now = new Date(next)) };
}
