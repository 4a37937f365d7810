import { sql, type Insertable, type Kysely, type Selectable, type Transaction } from "kysely";
import type { Database, ModelPriceTable } from "../db/schema.js";
import { Money } from "../money.js";
import { instantFromPg, type Instant } from "../time.js";
import type { Price, PriceRates } from "./price.js";

type Db = Kysely<Database> | Transaction<Database>;
type Row = Selectable<ModelPriceTable>;

const optional = (value: string | null) => (value === null ? undefined : new Money(value));
const rateText = (value: Money | undefined) => (value === undefined ? null : value.toFixed());

export function priceFromRow(row: Row): Price {
  return {
    id: row.id,
    model: row.model,
    provider: row.provider,
    effectiveFrom: instantFromPg(row.effective_from),
    inputPerMillion: new Money(row.input_usd_per_mtok),
    cacheReadInputPerMillion: optional(row.cache_read_input_usd_per_mtok),
    cacheWriteInputPerMillion: optional(row.cache_write_input_usd_per_mtok),
    outputPerMillion: new Money(row.output_usd_per_mtok),
    reasoningOutputPerMillion: optional(row.reasoning_output_usd_per_mtok),
    tier:
      row.tier_threshold_input_tokens === null
        ? undefined
        : {
            thresholdInputTokens: BigInt(row.tier_threshold_input_tokens),
            inputPerMillion: new Money(row.tier_input_usd_per_mtok!),
            cacheReadInputPerMillion: optional(row.tier_cache_read_input_usd_per_mtok),
            cacheWriteInputPerMillion: optional(row.tier_cache_write_input_usd_per_mtok),
            outputPerMillion: new Money(row.tier_output_usd_per_mtok!),
            reasoningOutputPerMillion: optional(row.tier_reasoning_output_usd_per_mtok),
          },
    source: row.source,
    notes: row.notes ?? undefined,
  };
}

export function priceToRow(price: Price): Insertable<ModelPriceTable> {
  const tier: PriceRates | undefined = price.tier;
  return {
    id: price.id,
    model: price.model,
    provider: price.provider,
    effective_from: price.effectiveFrom,
    input_usd_per_mtok: price.inputPerMillion.toFixed(),
    cache_read_input_usd_per_mtok: rateText(price.cacheReadInputPerMillion),
    cache_write_input_usd_per_mtok: rateText(price.cacheWriteInputPerMillion),
    output_usd_per_mtok: price.outputPerMillion.toFixed(),
    reasoning_output_usd_per_mtok: rateText(price.reasoningOutputPerMillion),
    tier_threshold_input_tokens: price.tier ? price.tier.thresholdInputTokens.toString() : null,
    tier_input_usd_per_mtok: rateText(tier?.inputPerMillion),
    tier_cache_read_input_usd_per_mtok: rateText(tier?.cacheReadInputPerMillion),
    tier_cache_write_input_usd_per_mtok: rateText(tier?.cacheWriteInputPerMillion),
    tier_output_usd_per_mtok: rateText(tier?.outputPerMillion),
    tier_reasoning_output_usd_per_mtok: rateText(tier?.reasoningOutputPerMillion),
    source: price.source,
    notes: price.notes ?? null,
  };
}

/** A price version with when it was added, as listed. */
export interface ListedPrice {
  price: Price;
  createdAt: Instant;
}

/**
 * The price version of a model and provider in force at an instant: the newest version whose effective time is not
 * after it. (Pricing reads the in-memory snapshot instead; this is for writes, which must see committed state.)
 */
export async function findVersionInForce(db: Db, model: string, provider: string, at: Instant): Promise<ListedPrice | undefined> {
  const row = await db
    .selectFrom("model_price")
    .selectAll()
    .where("model", "=", model)
    .where("provider", "=", provider)
    .where("effective_from", "<=", at)
    .orderBy("effective_from", "desc")
    .limit(1)
    .executeTakeFirst();
  return row && { price: priceFromRow(row), createdAt: instantFromPg(row.created_at) };
}

/** Whether the catalog has any version of a model and provider. */
export async function hasAnyVersion(db: Db, model: string, provider: string): Promise<boolean> {
  const row = await db
    .selectFrom("model_price")
    .select("id")
    .where("model", "=", model)
    .where("provider", "=", provider)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** Adds a version; returns it with its creation time. */
export async function insertPrice(db: Db, price: Price): Promise<ListedPrice> {
  const row = await db.insertInto("model_price").values(priceToRow(price)).returningAll().executeTakeFirstOrThrow();
  return { price: priceFromRow(row), createdAt: instantFromPg(row.created_at) };
}

/** A price version by its id; undefined when there is none. */
export async function findPriceById(db: Db, id: string): Promise<Price | undefined> {
  const row = await db.selectFrom("model_price").selectAll().where("id", "=", id).executeTakeFirst();
  return row && priceFromRow(row);
}

/** The catalog's version counter (raised by a trigger on every write). */
export async function readCatalogVersion(db: Db): Promise<bigint> {
  const row = await db.selectFrom("price_catalog_version").select("version").executeTakeFirstOrThrow();
  return BigInt(row.version);
}

/** Every version of every price. */
export async function loadAllPrices(db: Db): Promise<Price[]> {
  return (await db.selectFrom("model_price").selectAll().execute()).map(priceFromRow);
}

/** The sort key a page of the catalog continues after. */
export interface PriceListCursor {
  model: string;
  provider: string;
  effectiveFrom: Instant;
}

/** A page of the catalog ordered by (model, provider, effective time), after a cursor. */
export async function listPrices(
  db: Db,
  filter: { model: string | undefined; provider: string | undefined },
  after: PriceListCursor | undefined,
  limit: number,
): Promise<ListedPrice[]> {
  let query = db.selectFrom("model_price").selectAll();
  if (filter.model !== undefined) query = query.where("model", "=", filter.model);
  if (filter.provider !== undefined) query = query.where("provider", "=", filter.provider);
  // Byte order ("C" collation), not the database's locale: the same order, and the same pages, on every engine.
  if (after) {
    query = query.where(
      sql<boolean>`(model collate "C", provider collate "C", effective_from) > (${after.model}, ${after.provider}, ${after.effectiveFrom}::timestamptz)`,
    );
  }
  const rows = await query
    .orderBy(sql`model collate "C"`)
    .orderBy(sql`provider collate "C"`)
    .orderBy("effective_from")
    .limit(limit)
    .execute();
  return rows.map((row) => ({ price: priceFromRow(row), createdAt: instantFromPg(row.created_at) }));
}
