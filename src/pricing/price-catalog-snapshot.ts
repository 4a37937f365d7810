import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import type { Instant } from "../time.js";
import { LEGACY_PROVIDER } from "./model-resolution.js";
import type { Price } from "./price.js";
import { loadAllPrices, readCatalogVersion } from "./price-catalog.repository.js";

/**
 * The whole price catalog in memory, as of one catalog version: pricing a call is a map lookup and a short scan of
 * one model's versions, with no database round trip.
 */
export class PriceCatalogSnapshot {
  /** Per model name, every version, newest effective time first (ties: provider name order, for determinism). */
  private readonly byModel = new Map<string, Price[]>();

  constructor(
    readonly version: bigint,
    prices: Price[],
  ) {
    for (const price of prices) {
      const versions = this.byModel.get(price.model);
      if (versions) versions.push(price);
      else this.byModel.set(price.model, [price]);
    }
    for (const versions of this.byModel.values()) {
      versions.sort((a, b) =>
        a.effectiveFrom !== b.effectiveFrom ? (a.effectiveFrom < b.effectiveFrom ? 1 : -1) : a.provider < b.provider ? -1 : 1,
      );
    }
  }

  /**
   * The version of a model in force at an instant. With a provider, only that provider's versions count; without
   * one, the newest version of any provider but the legacy list (which is reached only by naming it).
   */
  find(model: string, provider: string | undefined, at: Instant): Price | undefined {
    const versions = this.byModel.get(model);
    if (!versions) return undefined;
    for (const price of versions) {
      if (price.effectiveFrom > at) continue;
      if (provider === undefined ? price.provider !== LEGACY_PROVIDER : price.provider === provider) return price;
    }
    return undefined;
  }
}

export interface PriceCatalogCacheOptions {
  /**
   * How long a snapshot is used before the catalog version is checked again, in milliseconds; 0 checks before every
   * lookup. Writes through this process invalidate the snapshot at once; this bounds how late a price written by
   * another process (the import command, another server) is seen.
   */
  maxStalenessMs: number;
  /** A monotonic clock in milliseconds (performance.now by default); injected by tests. */
  now?: () => number;
}

/**
 * Keeps a snapshot of the catalog current. A lookup uses the snapshot as long as it was confirmed current within
 * maxStalenessMs; after that, one one-row query reads the catalog version (raised by a trigger in the transaction of
 * every catalog write), and only a changed version reloads the catalog. Concurrent lookups share one check.
 */
export class PriceCatalogCache {
  private current: PriceCatalogSnapshot | undefined;
  private checkedAt = Number.NEGATIVE_INFINITY;
  private stale = true;
  private refreshing: Promise<PriceCatalogSnapshot> | undefined;
  private readonly now: () => number;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly options: PriceCatalogCacheOptions,
  ) {
    this.now = options.now ?? (() => performance.now());
  }

  /** A snapshot that was current at most maxStalenessMs ago (or after the last local invalidation). */
  async snapshot(): Promise<PriceCatalogSnapshot> {
    // A check in flight is joined, never overtaken: refresh() clears `stale` when it starts, so without this a
    // lookup made meanwhile (the other events of a batch right after an upsert) would get the snapshot from before.
    if (this.refreshing) return this.refreshing;
    if (this.current && !this.stale && this.now() - this.checkedAt < this.options.maxStalenessMs) return this.current;
    const refreshing = this.refresh().finally(() => {
      if (this.refreshing === refreshing) this.refreshing = undefined;
    });
    this.refreshing = refreshing;
    return refreshing;
  }

  /** Forgets that the snapshot is current: the next lookup checks (and reloads). Called after every local write. */
  invalidate(): void {
    this.stale = true;
    // A check already in flight may have read the catalog before the write; the next lookup must not join it.
    this.refreshing = undefined;
  }

  private async refresh(): Promise<PriceCatalogSnapshot> {
    this.stale = false;
    const startedAt = this.now();
    // The version is read before the rows, so a write committed in between makes the next check reload again
    // rather than be missed.
    const version = await readCatalogVersion(this.db);
    if (!this.current || version !== this.current.version) {
      const loaded = new PriceCatalogSnapshot(version, await loadAllPrices(this.db));
      // Two refreshes may overlap after an invalidation: never replace a newer snapshot with an older one.
      if (!this.current || loaded.version >= this.current.version) this.current = loaded;
    }
    this.checkedAt = startedAt;
    return this.current;
  }
}
