-- Rollups: pre-summed cost and usage of the API calls, so dashboard questions stay fast as the ledger grows.
-- The raw ledger stays the source of truth; every rollup is a pure function of its rows and is reconciled exactly.
--
-- How it stays exact (see src/aggregation/rollup.ts):
-- * `seq` numbers ledger rows in the order they were inserted. Rollups are folded by seq, never by event time, so
--   an event that arrives late (its time long before the last fold) is folded like any other: nothing is lost.
-- * A fold first takes the advisory lock below exclusively: it waits until every transaction that is inserting
--   ledger rows has finished (each insert statement holds the lock shared until its transaction ends), reads the
--   highest committed seq, and releases it at once. Every seq up to that value is then committed, so a fold never
--   skips a row that a slow transaction commits later.
-- * A fold adds the rows in (watermark, target] to the rollups and moves the watermark in one transaction. A
--   query reads rollup rows plus the raw rows with seq above the watermark in ONE statement (one snapshot), so it
--   sees each row exactly once.
-- * Rollups are keyed by 15-minute (900 s), 1-hour (3600 s) and 1-day (86400 s) UTC buckets: 15-minute buckets
--   nest in the local hours and days of every time zone, including +05:30 and +05:45; hour buckets serve
--   whole-hour zones, and day buckets UTC days and the long middle of any range, with fewer rows to read. Each rollup is keyed by its own question's dimensions (a rollup
--   keyed by every dimension would be nearly as large as the raw table). A missing value is stored as ''.
-- * The ledger is append-only. Should rows ever be updated or deleted (or the table truncated), the trigger below
--   empties the rollups and resets the watermark: answers stay exact (read from raw) until the background fold
--   has rebuilt them.

-- Insertion order. Identity values are handed out in increasing order; gaps (rolled-back inserts) are harmless.
ALTER TABLE ledger_event ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
CREATE INDEX ledger_event_seq_idx ON ledger_event (seq);

-- How far the rollups have folded: every api_call with seq <= folded_through_seq is in every rollup, no other.
CREATE TABLE rollup_watermark (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  folded_through_seq bigint NOT NULL DEFAULT 0,
  folded_at timestamptz
);
INSERT INTO rollup_watermark (id) VALUES (true);

-- Each insert statement holds advisory lock 7310420151 (shared) until its transaction ends; see above.
CREATE FUNCTION ledger_event_hold_fold_lock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(7310420151);
  RETURN NULL;
END
$$;
CREATE TRIGGER ledger_event_hold_fold_lock BEFORE INSERT ON ledger_event
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_event_hold_fold_lock();

CREATE TABLE rollup_status (
  grain_seconds integer NOT NULL CHECK (grain_seconds IN (900, 3600, 86400)),
  bucket_start timestamptz NOT NULL,
  status text NOT NULL,
  cost_usd numeric NOT NULL,
  call_count bigint NOT NULL,
  input_tokens numeric NOT NULL,
  cache_read_input_tokens numeric NOT NULL,
  cache_write_input_tokens numeric NOT NULL,
  output_tokens numeric NOT NULL,
  reasoning_output_tokens numeric NOT NULL,
  unpriced_call_count bigint NOT NULL,
  PRIMARY KEY (grain_seconds, bucket_start, status)
);
CREATE TABLE rollup_provider_model (
  grain_seconds integer NOT NULL CHECK (grain_seconds IN (900, 3600, 86400)),
  bucket_start timestamptz NOT NULL,
  provider text NOT NULL,
  model text NOT NULL,
  status text NOT NULL,
  cost_usd numeric NOT NULL,
  call_count bigint NOT NULL,
  input_tokens numeric NOT NULL,
  cache_read_input_tokens numeric NOT NULL,
  cache_write_input_tokens numeric NOT NULL,
  output_tokens numeric NOT NULL,
  reasoning_output_tokens numeric NOT NULL,
  unpriced_call_count bigint NOT NULL,
  PRIMARY KEY (grain_seconds, bucket_start, provider, model, status)
);
CREATE TABLE rollup_operation (
  grain_seconds integer NOT NULL CHECK (grain_seconds IN (900, 3600, 86400)),
  bucket_start timestamptz NOT NULL,
  operation text NOT NULL,
  status text NOT NULL,
  cost_usd numeric NOT NULL,
  call_count bigint NOT NULL,
  input_tokens numeric NOT NULL,
  cache_read_input_tokens numeric NOT NULL,
  cache_write_input_tokens numeric NOT NULL,
  output_tokens numeric NOT NULL,
  reasoning_output_tokens numeric NOT NULL,
  unpriced_call_count bigint NOT NULL,
  PRIMARY KEY (grain_seconds, bucket_start, operation, status)
);
CREATE TABLE rollup_agent (
  grain_seconds integer NOT NULL CHECK (grain_seconds IN (900, 3600, 86400)),
  bucket_start timestamptz NOT NULL,
  agent_id text NOT NULL,
  status text NOT NULL,
  cost_usd numeric NOT NULL,
  call_count bigint NOT NULL,
  input_tokens numeric NOT NULL,
  cache_read_input_tokens numeric NOT NULL,
  cache_write_input_tokens numeric NOT NULL,
  output_tokens numeric NOT NULL,
  reasoning_output_tokens numeric NOT NULL,
  unpriced_call_count bigint NOT NULL,
  PRIMARY KEY (grain_seconds, bucket_start, agent_id, status)
);
CREATE TABLE rollup_task (
  grain_seconds integer NOT NULL CHECK (grain_seconds IN (900, 3600, 86400)),
  bucket_start timestamptz NOT NULL,
  task_id text NOT NULL,
  status text NOT NULL,
  cost_usd numeric NOT NULL,
  call_count bigint NOT NULL,
  input_tokens numeric NOT NULL,
  cache_read_input_tokens numeric NOT NULL,
  cache_write_input_tokens numeric NOT NULL,
  output_tokens numeric NOT NULL,
  reasoning_output_tokens numeric NOT NULL,
  unpriced_call_count bigint NOT NULL,
  PRIMARY KEY (grain_seconds, bucket_start, task_id, status)
);

-- Any change to existing ledger rows invalidates the rollups: empty them and fold again from the start. (Statement
-- triggers also fire for statements that change nothing, hence the check of the changed rows.)
CREATE FUNCTION ledger_event_reset_rollups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'TRUNCATE' THEN
    IF NOT EXISTS (SELECT 1 FROM changed_rows) THEN
      RETURN NULL;
    END IF;
  END IF;
  UPDATE rollup_watermark SET folded_through_seq = 0, folded_at = NULL;
  TRUNCATE rollup_status, rollup_provider_model, rollup_operation, rollup_agent, rollup_task;
  RETURN NULL;
END
$$;
CREATE TRIGGER ledger_event_reset_rollups_on_update AFTER UPDATE ON ledger_event
  REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_event_reset_rollups();
CREATE TRIGGER ledger_event_reset_rollups_on_delete AFTER DELETE ON ledger_event
  REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_event_reset_rollups();
CREATE TRIGGER ledger_event_reset_rollups_on_truncate AFTER TRUNCATE ON ledger_event
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_event_reset_rollups();

-- Monthly budgets per scope: global (scope_id ''), a user, or an agent. Scopes without one use the default ($150).
CREATE TABLE budget (
  scope_kind text NOT NULL CHECK (scope_kind IN ('global', 'user', 'agent')),
  scope_id text NOT NULL,
  monthly_limit_usd numeric NOT NULL CHECK (monthly_limit_usd > 0),
  time_zone text NOT NULL DEFAULT 'UTC',
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope_kind, scope_id),
  CONSTRAINT budget_global_has_no_id CHECK ((scope_kind = 'global') = (scope_id = ''))
);
