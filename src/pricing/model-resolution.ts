import type { Price, PriceResolution } from "./price.js";

/**
 * Finds the price version of a catalog model name in force at the time being priced. With a provider, only that
 * provider's versions count; without one, any provider's but the "legacy" list's.
 */
export type PriceLookup = (model: string, provider: string | undefined) => Price | undefined;

/** The catalog entry that prices every local Ollama model (seeded at $0 by a migration). */
export const LOCAL_MODEL_ENTRY = { model: "ollama/*", provider: "ollama" } as const;

/** The price list of the legacy calculator: used only when a caller names it as the provider. */
export const LEGACY_PROVIDER = "legacy";

/**
 * Decides which catalog entry prices a model name, in a fixed order (see PriceResolution in pricing.proto):
 * 1. a local Ollama model (provider "ollama", or a name starting "ollama/" or "ollama_chat/") is free;
 * 2. a fine-tuned id "ft:<base>:..." is priced only by a fine-tune price: the id itself, "ft:<base>", or
 *    "ft:<base without snapshot suffix>"; never by the base model's own price, which is the wrong price;
 * 3. otherwise the exact name; then without the provider prefix (or with the provider's prefix added); then
 *    without a ":tag"; then without a dated snapshot suffix (only reached when the dated name has no price);
 * 4. otherwise the configured default price, if any. Undefined: unpriced.
 */
export function resolvePrice(
  model: string,
  provider: string | undefined,
  lookup: PriceLookup,
  defaultPriceModel: string | undefined,
): (Price & { resolution: PriceResolution }) | undefined {
  const found = resolveByName(model, provider, lookup);
  if (found) return found;
  const fallback = defaultPriceModel === undefined ? undefined : lookup(defaultPriceModel, undefined);
  return fallback && { ...fallback, resolution: "default_price" };
}

function resolveByName(
  model: string,
  provider: string | undefined,
  lookup: PriceLookup,
): (Price & { resolution: PriceResolution }) | undefined {
  const lower = model.toLowerCase();
  if (provider === "ollama" || lower.startsWith("ollama/") || lower.startsWith("ollama_chat/")) {
    const free = lookup(LOCAL_MODEL_ENTRY.model, LOCAL_MODEL_ENTRY.provider);
    return free && { ...free, resolution: "local_model" };
  }
  for (const [name, candidateProvider, resolution] of candidates(model, provider)) {
    const price = lookup(name, candidateProvider);
    if (price) return { ...price, resolution };
  }
  return undefined;
}

type Candidate = [name: string, provider: string | undefined, resolution: PriceResolution];

/** The names to try, best first. Exported for tests. */
export function candidates(model: string, provider: string | undefined): Candidate[] {
  if (model.startsWith("ft:")) return fineTuneCandidates(model, provider);
  const named: Candidate[] = [[model, provider, "exact"]];
  const slash = model.indexOf("/");
  if (slash > 0) {
    const prefix = model.slice(0, slash).toLowerCase();
    if (provider === undefined || provider === prefix) named.push([model.slice(slash + 1), prefix, "provider_prefix"]);
  } else if (provider !== undefined) {
    named.push([`${provider}/${model}`, provider, "provider_prefix"]);
  }
  const tagless: Candidate[] = [];
  for (const [name, p] of named) {
    const untagged = withoutTag(name);
    if (untagged !== undefined) tagless.push([untagged, p, "tag"]);
  }
  const undated: Candidate[] = [];
  for (const [name, p] of [...named, ...tagless]) {
    const base = withoutSnapshot(name);
    if (base !== undefined) undated.push([base, p, "snapshot"]);
  }
  return [...named, ...tagless, ...undated];
}

function fineTuneCandidates(model: string, provider: string | undefined): Candidate[] {
  const base = model.split(":")[1] ?? "";
  const list: Candidate[] = [[model, provider, "exact"]];
  if (base === "") return list;
  if (`ft:${base}` !== model) list.push([`ft:${base}`, provider, "fine_tune"]);
  const undated = withoutSnapshot(base);
  if (undated !== undefined) list.push([`ft:${undated}`, provider, "fine_tune"]);
  return list;
}

/** "llama3:8b" -> "llama3"; undefined when the name has no tag. */
export function withoutTag(name: string): string | undefined {
  const colon = name.indexOf(":");
  return colon > 0 ? name.slice(0, colon) : undefined;
}

const SNAPSHOT_SUFFIX = /^(.+?)(?:-(\d{4})-(\d{2})-(\d{2})|-(\d{4})(\d{2})(\d{2})|@(\d{4})(\d{2})(\d{2}))$/;

/**
 * "gpt-4o-2024-08-06" -> "gpt-4o", "claude-3-5-sonnet-20241022" -> "claude-3-5-sonnet", "...@20241022" -> "...";
 * undefined when the name has no dated suffix. Only real calendar dates from 2000 on count, so a version number
 * such as "-12345678" is never taken for a date. OpenAI's four-digit "-0613" suffixes are not stripped: they are
 * ambiguous (a size, a version), and a wrong price is worse than an unpriced call.
 */
export function withoutSnapshot(name: string): string | undefined {
  const match = SNAPSHOT_SUFFIX.exec(name);
  if (!match) return undefined;
  const [year, month, day] = match.slice(2).filter((part) => part !== undefined).map(Number) as [number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day));
  const valid = year >= 2000 && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
  return valid ? match[1] : undefined;
}
