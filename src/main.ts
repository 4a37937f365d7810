// The service's entry point (`npm start`): read the configuration, serve until SIGINT or SIGTERM, stop gracefully.
import { ConfigError, loadConfig } from "./config.js";
import { createLogger } from "./logger.js";
import { startService } from "./server.js";

let config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(2);
}
const logger = createLogger(config.logLevel);
const service = await startService({ config, logger }).catch((error: unknown) => {
  logger.error("could not start", { error: error instanceof Error ? error.message : String(error) });
  process.exit(1);
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    logger.info("shutting down", { signal });
    void service.close().then(() => {
      // grpc-js and PGlite leave no handles behind, so the event loop drains and the process exits by itself.
      process.exitCode = 0;
    });
  });
}
