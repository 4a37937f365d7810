// The service's entry point (`npm start`): read the configuration, serve until SIGINT or SIGTERM, stop gracefully.
import { ConfigError, loadConfig } from "./config.js";
import { createLogger } from "./logger.js";
import { startService, type RunningService } from "./server.js";

let config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(2);
}
const logger = createLogger(config.logLevel);

// Signals are handled from the first moment, so one that arrives while the server is still starting is not lost:
// the server stops as soon as it is up.
let service: RunningService | undefined;
let stopRequested = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    logger.info("shutting down", { signal });
    stopRequested = true;
    void service?.close();
  });
}

service = await startService({ config, logger }).catch((error: unknown) => {
  logger.error("could not start", { error: error instanceof Error ? error.message : String(error) });
  process.exit(1);
});
// grpc-js and PGlite leave no handles behind once closed, so the event loop drains and the process exits with 0.
if (stopRequested) await service.close();
