import { describe, expect, it } from "vitest";
import { ConfigError, DEFAULT_CONFIG, loadConfig } from "../../src/config.js";

describe("loadConfig", () => {
  it("defaults to the embedded database on 0.0.0.0:50051", () => {
    expect(loadConfig({})).toEqual(DEFAULT_CONFIG);
  });

  it("reads every setting", () => {
    const config = loadConfig({
      LISTEN_ADDRESS: "127.0.0.1:6000",
      DATABASE_URL: "postgres://u@h:5432/d",
      DATA_DIR: "/tmp/x",
      LOG_LEVEL: "debug",
      MAX_CLOCK_SKEW_SECONDS: "60",
      REFLECTION: "off",
      SHUTDOWN_GRACE_SECONDS: "3",
    });
    expect(config).toMatchObject({ listenAddress: "127.0.0.1:6000", dataDir: "/tmp/x", logLevel: "debug", reflection: false });
    expect(config.maxClockSkewSeconds).toBe(60);
  });

  it("reads the pricing settings, and refuses a bad staleness bound", () => {
    const config = loadConfig({ DEFAULT_PRICE_MODEL: "gpt-4o-mini", PRICE_CATALOG_MAX_STALENESS_MS: "0" });
    expect(config).toMatchObject({ defaultPriceModel: "gpt-4o-mini", priceCatalogMaxStalenessMs: 0 });
    expect(() => loadConfig({ PRICE_CATALOG_MAX_STALENESS_MS: "soon" })).toThrow(/PRICE_CATALOG_MAX_STALENESS_MS/);
  });

  it("reads the retention horizon, refuses a bad one, and refuses retention without the rollups that keep old sums", () => {
    expect(loadConfig({}).ledgerRetentionMonths).toBe(0);
    expect(loadConfig({ LEDGER_RETENTION_MONTHS: "13" }).ledgerRetentionMonths).toBe(13);
    expect(() => loadConfig({ LEDGER_RETENTION_MONTHS: "-1" })).toThrow(/LEDGER_RETENTION_MONTHS="-1" must be a whole number/);
    expect(() => loadConfig({ LEDGER_RETENTION_MONTHS: "a year" })).toThrow(/LEDGER_RETENTION_MONTHS/);
    expect(() => loadConfig({ LEDGER_RETENTION_MONTHS: "12", ROLLUP_FOLD_INTERVAL_MS: "0" })).toThrow(
      /LEDGER_RETENTION_MONTHS needs the rollups: ROLLUP_FOLD_INTERVAL_MS must not be 0/,
    );
  });

  it("reads READ_DATABASE_URL beside DATABASE_URL", () => {
    const config = loadConfig({ DATABASE_URL: "postgres://u@primary:5432/d", READ_DATABASE_URL: "postgresql://u@replica:5432/d" });
    expect(config).toMatchObject({ databaseUrl: "postgres://u@primary:5432/d", readDatabaseUrl: "postgresql://u@replica:5432/d" });
    expect(loadConfig({ DATABASE_URL: "postgres://u@primary:5432/d" }).readDatabaseUrl).toBeUndefined();
  });

  it("refuses READ_DATABASE_URL without DATABASE_URL, and one that is not a postgres URL", () => {
    expect(() => loadConfig({ READ_DATABASE_URL: "postgres://u@replica:5432/d" })).toThrow(/READ_DATABASE_URL needs DATABASE_URL/);
    expect(() => loadConfig({ DATABASE_URL: "postgres://u@primary/d", READ_DATABASE_URL: "mysql://replica/d" })).toThrow(
      /READ_DATABASE_URL must start with postgres:\/\//,
    );
  });

  it("reports every bad value at once", () => {
    let error: unknown;
    try {
      loadConfig({ LISTEN_ADDRESS: "nowhere", LOG_LEVEL: "loud", DATABASE_URL: "mysql://x", MAX_CLOCK_SKEW_SECONDS: "-5" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toHaveLength(4);
    expect((error as ConfigError).message).toContain("LOG_LEVEL");
  });
});
