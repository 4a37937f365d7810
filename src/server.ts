import { randomUUID } from "node:crypto";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { CostTrackingServiceService, type CostTrackingServiceServer } from "../gen/costtracking/v1/cost_tracking_service.js";
import { aggregationRpc } from "./aggregation/aggregation.rpc.js";
import { AggregationService } from "./aggregation/aggregation.service.js";
import { AccessPolicy } from "./access/access-policy.js";
import { accessInterceptor } from "./access/access.rpc.js";
import { isLoopbackAddress, type Config } from "./config.js";
import { DashboardService } from "./aggregation/dashboard.service.js";
import { RollupFolder } from "./aggregation/rollup-folder.js";
import { LedgerMaintenance } from "./ledger/ledger-maintenance.js";
import { budgetRpc } from "./budgets/budget.rpc.js";
import { BudgetService } from "./budgets/budget.service.js";
import { openDatabase, type DatabaseHandle } from "./db/database.js";
import { migrateToLatest } from "./db/migrator.js";
import { databaseRoutes, isHotStandby, type DatabaseRoutes } from "./db/read-replica.js";
import { EventWriter } from "./ledger/event-writer.js";
import { exportRpc } from "./ledger/export.rpc.js";
import { ledgerRpc } from "./ledger/ledger.rpc.js";
import { committedEventsOf, LedgerService } from "./ledger/ledger.service.js";
import type { Logger } from "./logger.js";
import { EstimateService } from "./pricing/estimate.service.js";
import { PriceCatalogCache } from "./pricing/price-catalog-snapshot.js";
import { PriceCatalogService } from "./pricing/price-catalog.service.js";
import { pricingRpc } from "./pricing/pricing.rpc.js";
import { PricingService } from "./pricing/pricing.service.js";
import { InFlightCalls } from "./rpc/in-flight.js";
import { malformedMessageInterceptor, withTolerantDeserializers } from "./rpc/malformed-messages.js";
import { addReflection } from "./rpc/reflection.js";
import { startStreaming, type Streaming } from "./streaming/streaming.js";
import type { WatchService } from "./streaming/watch.service.js";
import { systemClock, type Clock } from "./time.js";

export const SERVICE_NAME = "costtracking.v1.CostTrackingService";

/** A running service: its bound address and how to stop it. */
export interface RunningService {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  /** The primary: every write. */
  readonly database: DatabaseHandle;
  /** The read replica (READ_DATABASE_URL) that answers the questions; undefined when the primary answers them. */
  readonly readDatabase: DatabaseHandle | undefined;
  /** The live-monitoring streams (their load, for operators and tests). */
  readonly watches: WatchService;
  /** The ledger's partitions and retention, looked after hourly (tests run a pass at will). */
  readonly maintenance: LedgerMaintenance;
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
  /**
   * An already open read replica of `database`; otherwise one is opened from config.readDatabaseUrl when set (and
   * closed on close()).
   */
  readDatabase?: DatabaseHandle;
}

/** TLS (optionally mutual) when configured, else plaintext. */
function serverCredentials(config: Config): ServerCredentials {
  if (!config.tls) return ServerCredentials.createInsecure();
  const { cert, key, clientCa } = config.tls;
  return ServerCredentials.createSsl(clientCa ?? null, [{ cert_chain: cert, private_key: key }], clientCa !== undefined);
}

/**
 * Builds the one service implementation from its domains. Each service gets `writes` (the primary) or `reads` (the
 * read replica when READ_DATABASE_URL is set, else the primary too): this is where a query's database is chosen
 * (see DatabaseRoutes; the watches' choice is in streaming.ts).
 */
export function createImplementation(
  routes: DatabaseRoutes,
  config: Config,
  logger: Logger,
  clock: Clock,
  streaming: Streaming,
): CostTrackingServiceServer {
  const writes = routes.writes.db;
  const reads = routes.reads.db;

  // On the primary: everything that writes, or must see what was just written. A price applies as soon as it is
  // upserted, and a retried write must find the event it stored, so pricing and the ledger never read a replica.
  const priceCatalog = new PriceCatalogCache(writes, { maxStalenessMs: config.priceCatalogMaxStalenessMs });
  const pricing = new PricingService(priceCatalog, { defaultPriceModel: config.defaultPriceModel });
  const catalog = new PriceCatalogService(writes, priceCatalog, randomUUID);
  // The one write path of the ledger; what it commits is announced to the monitors of every replica.
  const writer = new EventWriter(writes, {
    maxConcurrentWrites: routes.writes.engine === "postgres" ? 2 : 1,
    onCommitted: (rows) => streaming.eventsCommitted(committedEventsOf(rows)),
  });
  const ledger = new LedgerService(writes, pricing, writer, {
    maxClockSkewSeconds: config.maxClockSkewSeconds,
    retentionMonths: config.ledgerRetentionMonths,
    clock,
  });

  // On the read database: the read-only questions (they may trail writes by the replica's lag, shown in GetStats).
  const estimates = new EstimateService(reads, pricing); // its own queries are the history percentiles
  const aggregation = new AggregationService(reads, clock, { useRollups: config.rollupFoldIntervalMs > 0 });
  // Budgets are set, listed and deleted on the primary; their status is read with `aggregation`.
  const budgets = new BudgetService(writes, reads, aggregation);

  return {
    ...pricingRpc({ pricing, catalog, estimates }, clock, logger),
    ...ledgerRpc(ledger, logger),
    ...exportRpc(reads, logger),
    ...aggregationRpc(aggregation, new DashboardService(aggregation), logger, routes.replica),
    ...budgetRpc(budgets, logger),
    ...streaming.rpc,
  };
}

/** Opens the read replica from the config, and checks it answers (a wrong URL stops the start-up, as DATABASE_URL's does). */
async function openReadDatabase(config: Config, logger: Logger): Promise<DatabaseHandle | undefined> {
  if (!config.readDatabaseUrl) return undefined;
  const readDatabase = await openDatabase({ databaseUrl: config.readDatabaseUrl });
  try {
    if (!(await isHotStandby(readDatabase.db))) {
      logger.warn("READ_DATABASE_URL is not a hot standby (not in recovery): its lag cannot be measured or waited for");
    }
  } catch (error) {
    await readDatabase.close();
    throw error;
  }
  return readDatabase;
}

/** Opens and migrates the database, then serves the API, health and reflection on config.listenAddress. */
export async function startService(options: StartOptions): Promise<RunningService> {
  const { config, logger } = options;
  const clock = options.clock ?? systemClock;
  const database =
    options.database ?? (await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  const ownsDatabase = options.database === undefined;
  const ownsReadDatabase = options.readDatabase === undefined;
  let readDatabase: DatabaseHandle | undefined;
  let streaming: Streaming;
  const maintenance = new LedgerMaintenance(database.db, { retentionMonths: config.ledgerRetentionMonths, clock, logger });
  let routes: DatabaseRoutes;
  try {
    // Migrations run on the primary; a streaming replica receives them through its WAL.
    await migrateToLatest(database.db);
    // The partitions of this month and the next ones exist before the first event; retention runs in the background.
    await maintenance.createMonthsAhead();
    readDatabase = options.readDatabase ?? (await openReadDatabase(config, logger));
    routes = databaseRoutes(database, readDatabase);
    streaming = await startStreaming(routes, config, logger, clock);
  } catch (error) {
    if (ownsReadDatabase) await readDatabase?.close();
    if (ownsDatabase) await database.close();
    throw error;
  }
  const closeDatabases = async () => {
    if (ownsReadDatabase) await readDatabase?.close();
    if (ownsDatabase) await database.close();
  };

  const policy = new AccessPolicy({
    tokens: config.authTokens,
    rateLimitPerSecond: config.rateLimitPerSecond,
    rateLimitBurst: config.rateLimitBurst,
    maxStreamsPerCaller: config.maxStreamsPerCaller,
  });
  const inFlight = new InFlightCalls();
  const server = new Server({
    interceptors: [inFlight.interceptor, accessInterceptor(SERVICE_NAME, policy, logger), malformedMessageInterceptor],
    "grpc.max_receive_message_length": config.maxMessageBytes,
  });
  server.addService(
    withTolerantDeserializers(CostTrackingServiceService),
    createImplementation(routes, config, logger, clock, streaming),
  );
  const health = new HealthImplementation({ "": "SERVING", [SERVICE_NAME]: "SERVING" });
  health.addToServer(server);
  if (config.reflection) addReflection(server);

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(config.listenAddress, serverCredentials(config), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  ).catch(async (error: unknown) => {
    server.forceShutdown();
    await streaming.close();
    await closeDatabases();
    throw error;
  });
  logger.info("serving", {
    address: config.listenAddress,
    port,
    engine: database.engine,
    readReplica: readDatabase !== undefined,
    dataDir: database.engine === "pglite" ? config.dataDir : undefined,
    authentication: policy.authenticationEnabled,
    tls: config.tls ? (config.tls.clientCa ? "mutual" : "server") : "off",
  });
  if (!policy.authenticationEnabled && !isLoopbackAddress(config.listenAddress)) {
    logger.warn("authentication is off on an address other machines can reach; configure AUTH_TOKENS_FILE (see README)");
  }
  const folder = config.rollupFoldIntervalMs > 0 ? new RollupFolder(database.db, config.rollupFoldIntervalMs, logger) : undefined;
  folder?.start();
  maintenance.start();

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      health.setStatus("", "NOT_SERVING");
      health.setStatus(SERVICE_NAME, "NOT_SERVING");
      // End the watch streams first (UNAVAILABLE: their clients reconnect to another replica), then stop accepting
      // calls and let unary calls and ingestion streams finish (up to the grace period). What is left (health
      // watches, which never end by themselves) is cancelled after a short allowance for the last replies to flush.
      await streaming.close();
      const stopped = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<"grace over">((resolve) => {
        timer = setTimeout(() => resolve("grace over"), config.shutdownGraceSeconds * 1000);
      });
      if ((await Promise.race([inFlight.drained(), graceOver])) === "grace over") {
        logger.warn("grace period over; cancelling calls still in flight", { calls: inFlight.size });
      }
      clearTimeout(timer);
      await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, 250))]);
      server.forceShutdown();
      await folder?.stop();
      await maintenance.stop();
      await closeDatabases();
      logger.info("stopped");
    })());
  return { port, database, readDatabase, watches: streaming.watches, maintenance, close };
}
