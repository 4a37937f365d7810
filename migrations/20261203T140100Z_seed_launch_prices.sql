-- The first catalog entries, in force from the epoch (meaning: no earlier price is known). The pricing engine's
-- migrations add the rest of the catalog; this one is the price the walking skeleton's replay is checked against.
-- gpt-4o-mini, OpenAI list price: $0.15 input, $0.075 cached input, $0.60 output per million tokens.
INSERT INTO model_price (id, model, provider, effective_from, input_usd_per_mtok, cache_read_input_usd_per_mtok,
  output_usd_per_mtok)
VALUES ('00000000-0000-7000-8000-000000000001', 'gpt-4o-mini', 'openai', '1970-01-01T00:00:00Z', 0.15, 0.075, 0.60);
