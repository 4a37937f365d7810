import { Server, ServerCredentials } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { CostTrackingServiceService, type CostTrackingServiceServer } from "../gen/costtracking/v1/cost_tracking_service.js";
import { aggregationRpc } from "./aggregation/aggregation.rpc.js";
import { AggregationService } from "./aggregation/aggregation.service.js";
import type { Config } from "./config.js";
import { openDatabase, type DatabaseHandle } from "./db/database.js";
import { migrateToLatest } from "./db/migrator.js";
import { ledgerRpc } from "./ledger/ledger.rpc.js";
import { LedgerService } from "./ledger/ledger.service.js";
import type { Logger } from "./logger.js";
import { pricingRpc } from "./pricing/pricing.rpc.js";
import { PricingService } from "./pricing/pricing.service.js";
import { addReflection } from "./rpc/reflection.js";
import { startStreaming, type Streaming } from "./streaming/streaming.js";
import type { WatchService } from "./streaming/watch.service.js";
import { systemClock, type Clock } from "./time.js";

export const SERVICE_NAME = "costtracking.v1.CostTrackingService";

/** A running service: its bound address and how to stop it. */
export interface RunningService {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  readonly database: DatabaseHandle;
  /** The live-monitoring streams (their load, for operators and tests). */
  readonly watches: WatchService;
  /**
   * Stops gracefully: health turns NOT_SERVING first, new calls are refused, in-flight calls get up to the grace
   * period to finish (then are cancelled), and the database is closed last.
   */
  close(): Promise<void>;
}

export interface StartOptions {
  config: Config;
  logger: Logger;
  clock?: Clock;
  /** An already open database (tests share one); otherwise one is opened from the config, and closed on close(). */
  database?: DatabaseHandle;
}

/** Builds the one service implementation from its domains. */
export function createImplementation(
  database: DatabaseHandle,
  config: Config,
  logger: Logger,
  clock: Clock,
  streaming: Streaming,
): CostTrackingServiceServer {
  const pricing = new PricingService(database.db);
  const ledger = new LedgerService(database.db, pricing, {
    maxClockSkewSeconds: config.maxClockSkewSeconds,
    clock,
    onEventsCommitted: streaming.eventsCommitted,
  });
  const aggregation = new AggregationService(database.db, clock);
  return {
    ...pricingRpc(pricing, clock, logger),
    ...ledgerRpc(ledger, logger),
    ...aggregationRpc(aggregation, logger),
    ...streaming.rpc,
  };
}

/** Opens and migrates the database, then serves the API, health and reflection on config.listenAddress. */
export async function startService(options: StartOptions): Promise<RunningService> {
  const { config, logger } = options;
  const clock = options.clock ?? systemClock;
  const database =
    options.database ?? (await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  const ownsDatabase = options.database === undefined;
  let streaming: Streaming;
  try {
    await migrateToLatest(database.db);
    streaming = await startStreaming(database, config, logger, clock);
  } catch (error) {
    if (ownsDatabase) await database.close();
    throw error;
  }

  const server = new Server();
  server.addService(CostTrackingServiceService, createImplementation(database, config, logger, clock, streaming));
  const health = new HealthImplementation({ "": "SERVING", [SERVICE_NAME]: "SERVING" });
  health.addToServer(server);
  if (config.reflection) addReflection(server);

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(config.listenAddress, ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  ).catch(async (error: unknown) => {
    await streaming.close();
    if (ownsDatabase) await database.close();
    throw error;
  });
  logger.info("serving", { address: config.listenAddress, port, engine: database.engine, dataDir: database.engine === "pglite" ? config.dataDir : undefined });

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      health.setStatus("", "NOT_SERVING");
      health.setStatus(SERVICE_NAME, "NOT_SERVING");
      // Watch streams never end by themselves: end them (UNAVAILABLE, so clients reconnect elsewhere) first.
      await streaming.close();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          logger.warn("grace period over; cancelling in-flight calls");
          server.forceShutdown();
          resolve();
        }, config.shutdownGraceSeconds * 1000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      if (ownsDatabase) await database.close();
      logger.info("stopped");
    })());
  return { port, database, watches: streaming.watches, close };
}
