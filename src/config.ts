import { readFileSync } from "node:fs";
import { parseTokenEntries, type Principal } from "./access/tokens.js";
import { LOG_LEVELS, type LogLevel } from "./logger.js";

/** PEM material for TLS, read at start-up. With clientCa, clients must present a certificate it signed (mTLS). */
export interface TlsConfig {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa: Buffer | undefined;
}

/** The service's whole configuration, read once at start-up by `loadConfig`. */
export interface Config {
  /** host:port the gRPC server binds, from LISTEN_ADDRESS. */
  readonly listenAddress: string;
  /** PostgreSQL connection URL, from DATABASE_URL; undefined selects the embedded PGlite database. */
  readonly databaseUrl: string | undefined;
  /**
   * A read-only PostgreSQL connection URL (a hot-standby streaming replica of DATABASE_URL), from
   * READ_DATABASE_URL; only allowed with DATABASE_URL. When set, the questions (aggregations, statistics, the
   * dashboard, budget status, exports, estimates from history) and the WatchStats snapshots are read from it, with
   * its lag shown in the statistics; every write, the price catalog, budget management, the rollup folding, the
   * migrations and the change feed (LISTEN) stay on DATABASE_URL. Undefined: everything uses DATABASE_URL.
   * See docs/SCALING.md.
   */
  readonly readDatabaseUrl: string | undefined;
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
  /**
   * Bearer tokens (by SHA-256 hash) when authentication is on, from AUTH_TOKENS_FILE and AUTH_TOKENS; undefined
   * when it is off. AUTH=auto (default) turns it on exactly when tokens are configured.
   */
  readonly authTokens: ReadonlyMap<string, Principal> | undefined;
  /** TLS for the server, from TLS_CERT_FILE, TLS_KEY_FILE and TLS_CLIENT_CA_FILE; undefined serves plaintext. */
  readonly tls: TlsConfig | undefined;
  /** The largest request message accepted, in bytes, from MAX_MESSAGE_BYTES. */
  readonly maxMessageBytes: number;
  /** How many streams one caller may have open at once, from MAX_STREAMS_PER_CALLER. */
  readonly maxStreamsPerCaller: number;
  /** Calls per second per caller, from RATE_LIMIT_PER_SECOND; 0 = no rate limit. */
  readonly rateLimitPerSecond: number;
  /** How far above its rate a caller may burst, from RATE_LIMIT_BURST. */
  readonly rateLimitBurst: number;
  /**
   * A catalog model name whose price applies to calls whose model has no price, from DEFAULT_PRICE_MODEL; undefined
   * (the default) records such calls as unpriced. The response names the entry (resolution DEFAULT_PRICE).
   */
  readonly defaultPriceModel: string | undefined;
  /**
   * How long the in-memory price catalog is used before its version is checked again, in milliseconds, from
   * PRICE_CATALOG_MAX_STALENESS_MS. Prices written through this server apply at once; this bounds how late a price
   * written by another process (the import command, another server) applies. 0: checked before every pricing.
   */
  readonly priceCatalogMaxStalenessMs: number;
  /**
   * How often the rollups are folded in the background, in milliseconds, from ROLLUP_FOLD_INTERVAL_MS. 0 turns the
   * rollups off: every question is answered from the raw ledger (slower, same answers).
   */
  readonly rollupFoldIntervalMs: number;
  /** How long a WatchStats stream's buffer may stay full (unread) before it is ended, from WATCH_STALL_SECONDS. */
  readonly watchStallSeconds: number;
  /**
   * How many whole months before the current one the ledger keeps, from LEDGER_RETENTION_MONTHS; 0 (the default)
   * keeps every month. With 12, on 2026-12-03 the ledger keeps 2025-12-01 onwards: older month partitions are
   * dropped (their sums stay in the rollups) and events dated before that are refused.
   */
  readonly ledgerRetentionMonths: number;
}

export const DEFAULT_CONFIG: Config = Object.freeze({
  listenAddress: "0.0.0.0:50051",
  databaseUrl: undefined,
  readDatabaseUrl: undefined,
  dataDir: "./data",
  logLevel: "info",
  maxClockSkewSeconds: 300,
  reflection: true,
  shutdownGraceSeconds: 10,
  authTokens: undefined,
  tls: undefined,
  maxMessageBytes: 4 * 1024 * 1024,
  maxStreamsPerCaller: 200,
  rateLimitPerSecond: 0,
  rateLimitBurst: 100,
  defaultPriceModel: undefined,
  priceCatalogMaxStalenessMs: 1000,
  rollupFoldIntervalMs: 1000,
  watchStallSeconds: 30,
  ledgerRetentionMonths: 0,
});

/** True for addresses only this machine can reach. */
export function isLoopbackAddress(listenAddress: string): boolean {
  const host = listenAddress.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

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
  const readDatabaseUrl = text("READ_DATABASE_URL");
  if (readDatabaseUrl !== undefined) {
    if (!/^postgres(ql)?:\/\//.test(readDatabaseUrl)) {
      problems.push(`READ_DATABASE_URL must start with postgres:// or postgresql://`);
    } else if (databaseUrl === undefined) {
      problems.push(
        "READ_DATABASE_URL needs DATABASE_URL: a read replica serves a PostgreSQL primary, not the embedded database",
      );
    }
  }

  const logLevel = (text("LOG_LEVEL") ?? DEFAULT_CONFIG.logLevel) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL="${logLevel}" must be one of ${LOG_LEVELS.join(", ")}`);

  const reflectionText = (text("REFLECTION") ?? "on").toLowerCase();
  if (!["on", "off", "true", "false", "1", "0"].includes(reflectionText)) {
    problems.push(`REFLECTION="${reflectionText}" must be on or off`);
  }

  const readFile = (name: string): Buffer | undefined => {
    const path = text(name);
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (error) {
      problems.push(`${name}="${path}" cannot be read: ${(error as Error).message}`);
      return undefined;
    }
  };

  const tokens = new Map<string, Principal>();
  const tokenSources: Array<[string, string | undefined]> = [
    ["AUTH_TOKENS_FILE", readFile("AUTH_TOKENS_FILE")?.toString("utf8")],
    ["AUTH_TOKENS", text("AUTH_TOKENS")],
  ];
  for (const [source, content] of tokenSources) {
    if (content === undefined) continue;
    const parsed = parseTokenEntries(content, source);
    problems.push(...parsed.problems);
    for (const [hash, principal] of parsed.entries) tokens.set(hash, principal);
  }
  const auth = (text("AUTH") ?? "auto").toLowerCase();
  if (!["auto", "on", "off"].includes(auth)) problems.push(`AUTH="${auth}" must be auto, on or off`);
  if (auth === "on" && tokens.size === 0) problems.push("AUTH=on needs tokens in AUTH_TOKENS_FILE or AUTH_TOKENS");
  if (auth === "off" && tokens.size > 0 && !isLoopbackAddress(listenAddress)) {
    problems.push(`AUTH=off is refused: tokens are configured and LISTEN_ADDRESS="${listenAddress}" is reachable from other machines`);
  }

  const cert = readFile("TLS_CERT_FILE");
  const key = readFile("TLS_KEY_FILE");
  const clientCa = readFile("TLS_CLIENT_CA_FILE");
  if (Boolean(text("TLS_CERT_FILE")) !== Boolean(text("TLS_KEY_FILE"))) problems.push("TLS_CERT_FILE and TLS_KEY_FILE go together");
  if (text("TLS_CLIENT_CA_FILE") && !text("TLS_CERT_FILE")) problems.push("TLS_CLIENT_CA_FILE needs TLS_CERT_FILE and TLS_KEY_FILE");

  const defaultPriceModel = text("DEFAULT_PRICE_MODEL");
  if (defaultPriceModel !== undefined && defaultPriceModel.length > 200) {
    problems.push(`DEFAULT_PRICE_MODEL must be a catalog model name of at most 200 characters`);
  }

  const config: Config = Object.freeze({
    listenAddress,
    databaseUrl,
    readDatabaseUrl,
    dataDir: text("DATA_DIR") ?? DEFAULT_CONFIG.dataDir,
    logLevel,
    maxClockSkewSeconds: integer("MAX_CLOCK_SKEW_SECONDS", DEFAULT_CONFIG.maxClockSkewSeconds, 0, 31_536_000),
    reflection: ["on", "true", "1"].includes(reflectionText),
    shutdownGraceSeconds: integer("SHUTDOWN_GRACE_SECONDS", DEFAULT_CONFIG.shutdownGraceSeconds, 0, 3600),
    authTokens: auth !== "off" && tokens.size > 0 ? tokens : undefined,
    tls: cert && key ? { cert, key, clientCa } : undefined,
    maxMessageBytes: integer("MAX_MESSAGE_BYTES", DEFAULT_CONFIG.maxMessageBytes, 1024, 256 * 1024 * 1024),
    maxStreamsPerCaller: integer("MAX_STREAMS_PER_CALLER", DEFAULT_CONFIG.maxStreamsPerCaller, 1, 100_000),
    rateLimitPerSecond: integer("RATE_LIMIT_PER_SECOND", DEFAULT_CONFIG.rateLimitPerSecond, 0, 10_000_000),
    rateLimitBurst: integer("RATE_LIMIT_BURST", DEFAULT_CONFIG.rateLimitBurst, 1, 10_000_000),
    defaultPriceModel,
    priceCatalogMaxStalenessMs: integer("PRICE_CATALOG_MAX_STALENESS_MS", DEFAULT_CONFIG.priceCatalogMaxStalenessMs, 0, 3_600_000),
    rollupFoldIntervalMs: integer("ROLLUP_FOLD_INTERVAL_MS", DEFAULT_CONFIG.rollupFoldIntervalMs, 0, 3_600_000),
    watchStallSeconds: integer("WATCH_STALL_SECONDS", DEFAULT_CONFIG.watchStallSeconds, 1, 3600),
    ledgerRetentionMonths: integer("LEDGER_RETENTION_MONTHS", DEFAULT_CONFIG.ledgerRetentionMonths, 0, 1200),
  });
  if (config.ledgerRetentionMonths > 0 && config.rollupFoldIntervalMs === 0) {
    // Retention keeps a dropped month's sums only in the rollups; without them the month would vanish from answers.
    problems.push("LEDGER_RETENTION_MONTHS needs the rollups: ROLLUP_FOLD_INTERVAL_MS must not be 0");
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
