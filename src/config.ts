import { LOG_LEVELS, type LogLevel } from "./logger.js";

/** The service's whole configuration, read once at start-up by `loadConfig`. */
export interface Config {
  /** host:port the gRPC server binds, from LISTEN_ADDRESS. */
  readonly listenAddress: string;
  /** PostgreSQL connection URL, from DATABASE_URL; undefined selects the embedded PGlite database. */
  readonly databaseUrl: string | undefined;
  /** Directory of the embedded database, from DATA_DIR. */
  readonly dataDir: string;
  /** From LOG_LEVEL. Requests are logged at debug, failures at warn or error. */
  readonly logLevel: LogLevel;
  /** How far in the future an event time may lie, in seconds, from MAX_CLOCK_SKEW_SECONDS. */
  readonly maxClockSkewSeconds: number;
  /** Whether server reflection is served, from REFLECTION (on/off). */
  readonly reflection: boolean;
  /** How long a graceful shutdown waits for in-flight calls before cancelling them, from SHUTDOWN_GRACE_SECONDS. */
  readonly shutdownGraceSeconds: number;
  /** How long a WatchStats stream's buffer may stay full (unread) before it is ended, from WATCH_STALL_SECONDS. */
  readonly watchStallSeconds: number;
}

export const DEFAULT_CONFIG: Config = Object.freeze({
  listenAddress: "0.0.0.0:50051",
  databaseUrl: undefined,
  dataDir: "./data",
  logLevel: "info",
  maxClockSkewSeconds: 300,
  reflection: true,
  shutdownGraceSeconds: 10,
  watchStallSeconds: 30,
});

/** Thrown with every problem of the environment at once, so one start-up shows all of them. */
export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
  }
}

/** Reads and validates the configuration from an environment (process.env by default). The only env reader. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const text = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = text(name);
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      problems.push(`${name}="${raw}" must be a whole number from ${min} to ${max}`);
      return fallback;
    }
    return Number(raw);
  };

  const listenAddress = text("LISTEN_ADDRESS") ?? DEFAULT_CONFIG.listenAddress;
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(listenAddress) || Number(listenAddress.split(":").pop()) > 65535) {
    problems.push(`LISTEN_ADDRESS="${listenAddress}" must be host:port, for example 0.0.0.0:50051 or [::1]:50051`);
  }

  const databaseUrl = text("DATABASE_URL");
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push(`DATABASE_URL must start with postgres:// or postgresql://`);
  }

  const logLevel = (text("LOG_LEVEL") ?? DEFAULT_CONFIG.logLevel) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL="${logLevel}" must be one of ${LOG_LEVELS.join(", ")}`);

  const reflectionText = (text("REFLECTION") ?? "on").toLowerCase();
  if (!["on", "off", "true", "false", "1", "0"].includes(reflectionText)) {
    problems.push(`REFLECTION="${reflectionText}" must be on or off`);
  }

  const config: Config = Object.freeze({
    listenAddress,
    databaseUrl,
    dataDir: text("DATA_DIR") ?? DEFAULT_CONFIG.dataDir,
    logLevel,
    maxClockSkewSeconds: integer("MAX_CLOCK_SKEW_SECONDS", DEFAULT_CONFIG.maxClockSkewSeconds, 0, 31_536_000),
    reflection: ["on", "true", "1"].includes(reflectionText),
    shutdownGraceSeconds: integer("SHUTDOWN_GRACE_SECONDS", DEFAULT_CONFIG.shutdownGraceSeconds, 0, 3600),
    watchStallSeconds: integer("WATCH_STALL_SECONDS", DEFAULT_CONFIG.watchStallSeconds, 1, 3600),
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
