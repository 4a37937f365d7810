import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import { Violations } from "../errors.js";
import { Money } from "../money.js";
import type { Instant } from "../time.js";
import { LEGACY_PROVIDER, LOCAL_MODEL_ENTRY } from "./model-resolution.js";
import type { NewPriceVersion, PriceCatalogService } from "./price-catalog.service.js";
import { ratesFromFields, tierFrom, type RateFields } from "./price-input.js";

/**
 * Reads LiteLLM's model price map (model_prices_and_context_window.json) into price versions. Only token-priced
 * text models are taken (mode chat, completion, responses or embedding) at their standard rates: the _priority,
 * _flex and _batches service tiers, per-image/second/character prices, off-peak prices and the 1-hour cache-write
 * rate are not part of a token price and are left out. Every number goes through its string form, so no float
 * error reaches a rate: 2.5e-06 is exactly 0.0000025 per token, stored as 2.5 per million.
 */

/** The modes whose prices are per token of text. */
const TOKEN_PRICED_MODES = new Set(["chat", "completion", "responses", "embedding"]);

const TIER_KEY = /^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost|cache_creation_input_token_cost)_above_(\d+)k_tokens$/;

/** One entry's outcome: a version to upsert, or why it was skipped. */
export type ParsedEntry = { key: string; version: NewPriceVersion } | { key: string; skipped: string; detail?: string };

/** A JSON number as an exact decimal string without exponent, through its shortest round-trip string form. */
function decimalText(value: unknown): string | undefined {
  if (typeof value !== "number" || !Number.isFinite(value)) return undefined;
  return new Money(String(value)).toFixed();
}

/** Parses one entry of the map. */
export function parseLiteLlmEntry(key: string, entry: unknown, effectiveFrom: Instant): ParsedEntry {
  if (key === "sample_spec") return { key, skipped: "sample_spec documents the fields; it is not a model" };
  if (typeof entry !== "object" || entry === null) return { key, skipped: "not an object" };
  const e = entry as Record<string, unknown>;
  const mode = typeof e.mode === "string" ? e.mode : undefined;
  if (!mode || !TOKEN_PRICED_MODES.has(mode)) {
    return { key, skipped: mode ? `mode "${mode}" is not priced per token (chat, completion, responses, embedding are)` : "no mode" };
  }
  const provider = typeof e.litellm_provider === "string" ? e.litellm_provider.toLowerCase() : "";
  if (provider === "") return { key, skipped: "no litellm_provider" };
  if (provider === LOCAL_MODEL_ENTRY.provider || key.startsWith("ollama/") || key.startsWith("ollama_chat/")) {
    return { key, skipped: "local ollama models are free by the ollama/* rule" };
  }
  if (provider === LEGACY_PROVIDER) return { key, skipped: `provider "${LEGACY_PROVIDER}" is reserved for the legacy price list` };
  if (key.length > 200 || provider.length > 100) return { key, skipped: "name longer than 200 (or provider than 100) characters" };
  if ("tiered_pricing" in e) return { key, skipped: "tiered_pricing ranges are not supported (one whole-request tier is)" };

  const input = decimalText(e.input_cost_per_token);
  // Embeddings produce no output tokens: a missing output rate is 0 for them, and missing for everything else.
  const output = decimalText(e.output_cost_per_token) ?? (mode === "embedding" ? "0" : undefined);
  if (input === undefined || output === undefined) {
    const missing = [input === undefined && "input_cost_per_token", output === undefined && "output_cost_per_token"].filter(Boolean);
    return { key, skipped: `missing ${missing.join(" and ")}` };
  }
  const base: RateFields = {
    input,
    output,
    cacheReadInput: decimalText(e.cache_read_input_token_cost) ?? "",
    cacheWriteInput: decimalText(e.cache_creation_input_token_cost) ?? "",
    reasoningOutput: decimalText(e.output_cost_per_reasoning_token) ?? "",
  };

  const tiers = new Map<string, Partial<Record<string, string>>>();
  for (const [field, value] of Object.entries(e)) {
    const match = TIER_KEY.exec(field);
    if (!match) continue;
    const rates = tiers.get(match[2]!) ?? {};
    rates[match[1]!] = decimalText(value);
    tiers.set(match[2]!, rates);
  }
  if (tiers.size > 1) return { key, skipped: "more than one long-context tier (one whole-request tier is supported)" };

  const violations = new Violations();
  const rates = ratesFromFields(base, "per_token", "rates", violations);
  let tier;
  const [thresholdK, tierFields] = [...tiers.entries()][0] ?? [];
  if (rates && thresholdK !== undefined && tierFields) {
    if (tierFields.input_cost_per_token === undefined || tierFields.output_cost_per_token === undefined) {
      return { key, skipped: `the above-${thresholdK}k tier lacks an input or output rate` };
    }
    const tierRates = ratesFromFields(
      {
        input: tierFields.input_cost_per_token,
        output: tierFields.output_cost_per_token,
        cacheReadInput: tierFields.cache_read_input_token_cost ?? "",
        cacheWriteInput: tierFields.cache_creation_input_token_cost ?? "",
        // LiteLLM has no tier reasoning rate; a base reasoning rate then makes the tier incomplete (skipped below).
        reasoningOutput: "",
      },
      "per_token",
      `above_${thresholdK}k_tokens`,
      violations,
    );
    tier = tierFrom(BigInt(thresholdK) * 1000n, tierRates, rates, `above_${thresholdK}k_tokens`, violations);
  }
  if (violations.list.length > 0 || !rates) {
    const detail = violations.list.map((v) => `${v.field} ${v.description}`).join("; ");
    const implausible = violations.list.some((v) => v.description.includes("implausible"));
    return { key, skipped: implausible ? "a rate of USD 0.001 or more per token is implausible (a per-1K figure?)" : detail, detail };
  }
  return {
    key,
    version: {
      model: key,
      provider,
      effectiveFrom,
      ...rates,
      tier,
      source: "litellm",
      notes: typeof e.source === "string" ? e.source.slice(0, 2000) : undefined,
    },
  };
}

/** What an import did, model by model. */
export interface ImportReport {
  added: string[];
  updated: string[];
  /** Skipped entries with why; unchanged models are skipped with reason "unchanged". */
  skipped: Array<{ key: string; reason: string; detail?: string | undefined }>;
}

/**
 * Imports a parsed map into the catalog in one transaction (all or nothing): a model the catalog does not have is
 * added, a model whose price differs from the version in force at `effectiveFrom` gets a new version (updated),
 * and an unchanged one adds nothing, so importing the same file twice adds nothing the second time.
 */
export async function importLiteLlmPrices(
  db: Kysely<Database>,
  catalog: PriceCatalogService,
  map: Record<string, unknown>,
  effectiveFrom: Instant,
): Promise<ImportReport> {
  const report: ImportReport = { added: [], updated: [], skipped: [] };
  await db.transaction().execute(async (trx) => {
    for (const [key, entry] of Object.entries(map)) {
      const parsed = parseLiteLlmEntry(key, entry, effectiveFrom);
      if ("skipped" in parsed) {
        report.skipped.push({ key, reason: parsed.skipped, detail: parsed.detail });
        continue;
      }
      const { outcome } = await catalog.upsert(parsed.version, trx);
      if (outcome === "added_model") report.added.push(key);
      else if (outcome === "added_version") report.updated.push(key);
      else report.skipped.push({ key, reason: "unchanged" });
    }
  });
  return report;
}
