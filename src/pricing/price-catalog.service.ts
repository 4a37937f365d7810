import type { Kysely, Transaction } from "kysely";
import type { Database } from "../db/schema.js";
import { PriceVersionExistsError } from "../errors.js";
import type { Instant } from "../time.js";
import type { PriceRates, PriceTier } from "./price.js";
import type { PriceCatalogCache } from "./price-catalog-snapshot.js";
import { samePricing } from "./price-input.js";
import {
  findVersionInForce,
  hasAnyVersion,
  insertPrice,
  listPrices,
  type ListedPrice,
  type PriceListCursor,
} from "./price-catalog.repository.js";

/** A price version to add: validated, rates per million. */
export interface NewPriceVersion extends PriceRates {
  model: string;
  provider: string;
  effectiveFrom: Instant;
  tier: PriceTier | undefined;
  source: string;
  notes: string | undefined;
}

/** What an upsert did: added a version of a new model, added a version of a known model, or nothing. */
export type UpsertOutcome = "added_model" | "added_version" | "unchanged";

export interface UpsertResult {
  price: ListedPrice;
  outcome: UpsertOutcome;
}

/**
 * The price catalog's writes and listing. Versions are only ever added; every write invalidates this process's
 * catalog snapshot so its own next lookup sees it.
 */
export class PriceCatalogService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly cache: PriceCatalogCache,
    private readonly newId: () => string,
  ) {}

  /**
   * Adds a version unless an equal one is already in force at its effective time (then nothing changes). A
   * different version at exactly that effective time is a PriceVersionExistsError: history is never edited.
   * `db` may be a transaction the caller owns (the import runs in one).
   */
  async upsert(version: NewPriceVersion, db: Kysely<Database> | Transaction<Database> = this.db): Promise<UpsertResult> {
    const run = async (trx: Transaction<Database>): Promise<UpsertResult> => {
      const inForce = await findVersionInForce(trx, version.model, version.provider, version.effectiveFrom);
      if (inForce && samePricing(inForce.price, version)) return { price: inForce, outcome: "unchanged" };
      if (inForce && inForce.price.effectiveFrom === version.effectiveFrom) {
        throw new PriceVersionExistsError(version.model, version.provider, version.effectiveFrom, inForce.price.id);
      }
      const known = inForce !== undefined || (await hasAnyVersion(trx, version.model, version.provider));
      const inserted = await insertPrice(trx, { ...version, id: this.newId() });
      return { price: inserted, outcome: known ? "added_version" : "added_model" };
    };
    const attempt = () => (db.isTransaction ? run(db as Transaction<Database>) : db.transaction().execute(run));
    try {
      return await attempt();
    } catch (error) {
      // Another process added the same version concurrently: the second look sees it (unchanged, or a conflict).
      if (!db.isTransaction && isVersionUniqueViolation(error)) return await attempt();
      throw error;
    } finally {
      this.cache.invalidate();
    }
  }

  /** A page of the catalog after a cursor, and the cursor of the next page (undefined on the last page). */
  async list(
    filter: { model: string | undefined; provider: string | undefined },
    after: PriceListCursor | undefined,
    pageSize: number,
  ): Promise<{ prices: ListedPrice[]; next: PriceListCursor | undefined }> {
    const rows = await listPrices(this.db, filter, after, pageSize + 1);
    const prices = rows.slice(0, pageSize);
    const last = prices.at(-1);
    const next =
      rows.length > pageSize && last
        ? { model: last.price.model, provider: last.price.provider, effectiveFrom: last.price.effectiveFrom }
        : undefined;
    return { prices, next };
  }
}

function isVersionUniqueViolation(error: unknown): boolean {
  const e = error as { code?: unknown; constraint?: unknown };
  return e?.code === "23505" && e.constraint === "model_price_version_unique";
}
