import type { Kysely, Selectable, Transaction } from "kysely";
import type { Database, ModelPriceTable } from "../db/schema.js";
import { Money } from "../money.js";
import { instantFromPg, type Instant } from "../time.js";
import type { Price } from "./price.js";

type Db = Kysely<Database> | Transaction<Database>;

export function priceFromRow(row: Selectable<ModelPriceTable>): Price {
  const optional = (value: string | null) => (value === null ? undefined : new Money(value));
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
  };
}

/**
 * The price version of a model in force at an instant: the newest version whose effective time is not after it.
 * With a provider, only that provider's prices count; without one, the newest version of any provider wins.
 */
export async function findPriceInForce(
  db: Db,
  model: string,
  provider: string | undefined,
  at: Instant,
): Promise<Price | undefined> {
  let query = db
    .selectFrom("model_price")
    .selectAll()
    .where("model", "=", model)
    .where("effective_from", "<=", at)
    .orderBy("effective_from", "desc")
    .limit(1);
  if (provider) query = query.where("provider", "=", provider);
  const row = await query.executeTakeFirst();
  return row && priceFromRow(row);
}

/** A price version by its id; undefined when there is none. */
export async function findPriceById(db: Db, id: string): Promise<Price | undefined> {
  const row = await db.selectFrom("model_price").selectAll().where("id", "=", id).executeTakeFirst();
  return row && priceFromRow(row);
}
