-- The pricing engine's catalog: whole-request tiers, where a price came from, an append-only guard, a version
-- counter that lets the service keep an in-memory snapshot of the catalog, and the legacy price tables.

-- A whole-request tier: when a call's input tokens (cache reads and writes included) are MORE than
-- tier_threshold_input_tokens, every token of the call is billed at the tier_* rates; at exactly the threshold the
-- base rates apply. NULL threshold: no tier. A NULL tier cache or reasoning rate falls back to the tier's input or
-- output rate, as for the base rates.
-- Fine-tunes need no column: a fine-tune price is a catalog entry named "ft:<base model>" (every fine-tune of that
-- base) or the full fine-tuned id, and the resolver never falls back from "ft:..." to the base model's price.
-- source says where a version came from ("seed", "legacy:MODEL_COSTS", "litellm", "api", ...); notes is free text.
ALTER TABLE model_price
  ADD COLUMN tier_threshold_input_tokens bigint CHECK (tier_threshold_input_tokens > 0),
  ADD COLUMN tier_input_usd_per_mtok numeric CHECK (tier_input_usd_per_mtok >= 0),
  ADD COLUMN tier_cache_read_input_usd_per_mtok numeric CHECK (tier_cache_read_input_usd_per_mtok >= 0),
  ADD COLUMN tier_cache_write_input_usd_per_mtok numeric CHECK (tier_cache_write_input_usd_per_mtok >= 0),
  ADD COLUMN tier_output_usd_per_mtok numeric CHECK (tier_output_usd_per_mtok >= 0),
  ADD COLUMN tier_reasoning_output_usd_per_mtok numeric CHECK (tier_reasoning_output_usd_per_mtok >= 0),
  ADD COLUMN source text NOT NULL DEFAULT 'seed',
  ADD COLUMN notes text,
  ADD CONSTRAINT model_price_tier_complete CHECK (
    (tier_threshold_input_tokens IS NULL) = (tier_input_usd_per_mtok IS NULL)
    AND (tier_threshold_input_tokens IS NULL) = (tier_output_usd_per_mtok IS NULL)
    AND (tier_threshold_input_tokens IS NOT NULL OR (tier_cache_read_input_usd_per_mtok IS NULL
      AND tier_cache_write_input_usd_per_mtok IS NULL AND tier_reasoning_output_usd_per_mtok IS NULL))
  );

-- Every new version must say where it came from; only the rows that existed before this migration are "seed".
ALTER TABLE model_price ALTER COLUMN source DROP DEFAULT;

-- Versions are only ever added: a later price never changes a past cost, and the history stays explainable.
CREATE FUNCTION model_price_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'model_price is append-only: add a new version instead of changing or deleting one';
END
$$;
CREATE TRIGGER model_price_append_only BEFORE UPDATE OR DELETE ON model_price
  FOR EACH ROW EXECUTE FUNCTION model_price_refuse_change();

-- One counter, raised in the same transaction as every catalog write, so any process can tell with a one-row read
-- whether its in-memory snapshot of the catalog is still current.
CREATE TABLE price_catalog_version (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  version bigint NOT NULL
);
INSERT INTO price_catalog_version (singleton, version) VALUES (true, 1);
CREATE FUNCTION price_catalog_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE price_catalog_version SET version = version + 1;
  RETURN NULL;
END
$$;
CREATE TRIGGER model_price_bumps_version AFTER INSERT ON model_price
  FOR EACH STATEMENT EXECUTE FUNCTION price_catalog_version_bump();

-- Local models are free: every "ollama/*" model and every call with provider "ollama" is priced by this entry, so
-- their cost is a visible $0 with a price reference, never an unpriced call or a guess.
INSERT INTO model_price (id, model, provider, effective_from, input_usd_per_mtok, output_usd_per_mtok, source, notes)
VALUES ('00000000-0000-7000-8000-000000000100', 'ollama/*', 'ollama', '1970-01-01T00:00:00Z', 0, 0,
  'rule', 'Local Ollama models cost nothing; applies to every ollama/* model and to provider "ollama".');

-- The legacy calculator's price list, reachable as provider "legacy" (only when asked for by name: a call without a
-- provider is never priced from it, because blended prices mis-cost every call whose input/output ratio is not 1:1).
-- EstimateCost's quality presets and phase plans use it, so they give the old calculator's results exactly.
-- 1. MODEL_COSTS (model_constants.py): one blended USD price per 1K tokens, stored per million (x 1000, exact) as
--    both the input and the output rate. Its seven ollama/* rows (all 0.0) are the ollama/* rule above.
INSERT INTO model_price (id, model, provider, effective_from, input_usd_per_mtok, output_usd_per_mtok, source, notes)
VALUES
  ('00000000-0000-7000-8000-000000000201', 'gpt-4-turbo', 'legacy', '1970-01-01T00:00:00Z', 0.045 * 1000, 0.045 * 1000, 'legacy:MODEL_COSTS', 'blended $0.045 per 1K'),
  ('00000000-0000-7000-8000-000000000202', 'gpt-4', 'legacy', '1970-01-01T00:00:00Z', 0.045 * 1000, 0.045 * 1000, 'legacy:MODEL_COSTS', 'blended $0.045 per 1K'),
  ('00000000-0000-7000-8000-000000000203', 'gpt-3.5-turbo', 'legacy', '1970-01-01T00:00:00Z', 0.00175 * 1000, 0.00175 * 1000, 'legacy:MODEL_COSTS', 'blended $0.00175 per 1K'),
  ('00000000-0000-7000-8000-000000000204', 'claude-opus-3', 'legacy', '1970-01-01T00:00:00Z', 0.045 * 1000, 0.045 * 1000, 'legacy:MODEL_COSTS', 'blended $0.045 per 1K'),
  ('00000000-0000-7000-8000-000000000205', 'claude-sonnet-3', 'legacy', '1970-01-01T00:00:00Z', 0.015 * 1000, 0.015 * 1000, 'legacy:MODEL_COSTS', 'blended $0.015 per 1K (not the average of its own in/out comment)'),
  ('00000000-0000-7000-8000-000000000206', 'claude-haiku-3', 'legacy', '1970-01-01T00:00:00Z', 0.0010 * 1000, 0.0010 * 1000, 'legacy:MODEL_COSTS', 'blended $0.0010 per 1K (not the average of its own in/out comment)'),
  ('00000000-0000-7000-8000-000000000207', 'claude-instant', 'legacy', '1970-01-01T00:00:00Z', 0.0016 * 1000, 0.0016 * 1000, 'legacy:MODEL_COSTS', 'blended $0.0016 per 1K'),
  ('00000000-0000-7000-8000-000000000208', 'gemini-2.5-flash', 'legacy', '1970-01-01T00:00:00Z', 0.0001 * 1000, 0.0001 * 1000, 'legacy:MODEL_COSTS', 'blended $0.0001 per 1K'),
  ('00000000-0000-7000-8000-000000000209', 'gemini-2.5-pro', 'legacy', '1970-01-01T00:00:00Z', 0.003 * 1000, 0.003 * 1000, 'legacy:MODEL_COSTS', 'blended $0.003 per 1K'),
  ('00000000-0000-7000-8000-000000000210', 'gemini-2.0-flash', 'legacy', '1970-01-01T00:00:00Z', 0.0001 * 1000, 0.0001 * 1000, 'legacy:MODEL_COSTS', 'blended $0.0001 per 1K');
-- 2. UsageTracker.MODEL_PRICING (usage_tracker.py): split input/output USD per 1K, stored per million (x 1000).
--    Name clashes: gpt-4, gpt-4-turbo and gpt-3.5-turbo are in both tables; the blended MODEL_COSTS row above wins,
--    because it is the one the old calculator's results (and the dashboard's figures) came from. Its split prices
--    were never applied by the tracker (its lookup key never matched), so nothing depended on them:
--    gpt-4 $0.03/$0.06, gpt-4-turbo $0.01/$0.03, gpt-3.5-turbo $0.0005/$0.0015 per 1K. Its "ollama" row is the
--    ollama/* rule. claude-3-opus and claude-opus-3 are different names and both kept, as the legacy code had them.
INSERT INTO model_price (id, model, provider, effective_from, input_usd_per_mtok, output_usd_per_mtok, source, notes)
VALUES
  ('00000000-0000-7000-8000-000000000301', 'gpt-4o', 'legacy', '1970-01-01T00:00:00Z', 0.005 * 1000, 0.015 * 1000, 'legacy:MODEL_PRICING', '$0.005 in / $0.015 out per 1K'),
  ('00000000-0000-7000-8000-000000000302', 'claude-3-opus', 'legacy', '1970-01-01T00:00:00Z', 0.015 * 1000, 0.075 * 1000, 'legacy:MODEL_PRICING', '$0.015 in / $0.075 out per 1K'),
  ('00000000-0000-7000-8000-000000000303', 'claude-3-sonnet', 'legacy', '1970-01-01T00:00:00Z', 0.003 * 1000, 0.015 * 1000, 'legacy:MODEL_PRICING', '$0.003 in / $0.015 out per 1K'),
  ('00000000-0000-7000-8000-000000000304', 'claude-3-haiku', 'legacy', '1970-01-01T00:00:00Z', 0.00025 * 1000, 0.00125 * 1000, 'legacy:MODEL_PRICING', '$0.00025 in / $0.00125 out per 1K'),
  ('00000000-0000-7000-8000-000000000305', 'gemini-pro', 'legacy', '1970-01-01T00:00:00Z', 0.0005 * 1000, 0.0015 * 1000, 'legacy:MODEL_PRICING', '$0.0005 in / $0.0015 out per 1K'),
  ('00000000-0000-7000-8000-000000000306', 'gemini-pro-vision', 'legacy', '1970-01-01T00:00:00Z', 0.001 * 1000, 0.002 * 1000, 'legacy:MODEL_PRICING', '$0.001 in / $0.002 out per 1K'),
  ('00000000-0000-7000-8000-000000000307', 'llama-2-70b', 'legacy', '1970-01-01T00:00:00Z', 0.001 * 1000, 0.003 * 1000, 'legacy:MODEL_PRICING', '$0.001 in / $0.003 out per 1K'),
  ('00000000-0000-7000-8000-000000000308', 'mistral-7b', 'legacy', '1970-01-01T00:00:00Z', 0.0002 * 1000, 0.0006 * 1000, 'legacy:MODEL_PRICING', '$0.0002 in / $0.0006 out per 1K');
