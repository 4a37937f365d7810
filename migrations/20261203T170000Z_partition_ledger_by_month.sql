-- The ledger partitioned by month of occurred_at (UTC), so that a deployment recording hundreds of millions of
-- calls a month keeps each month's rows and indexes in their own table, queries over a time range read only the
-- months they touch, and retention drops whole months (see src/ledger/partitions.ts) instead of deleting rows.
--
-- Idempotency across partitions: PostgreSQL only enforces a unique key on a partitioned table within each
-- partition, so a unique key must contain the partition key. request_id alone must be unique across all months,
-- so it moves to its own (unpartitioned) table, ledger_request_key. The one write statement claims each request id
-- there (ON CONFLICT DO NOTHING) and inserts the event rows whose claim succeeded, atomically
-- (src/ledger/ledger.repository.ts). The event's primary key is (request_id, occurred_at): it contains the
-- partition key, and the distribution column a Citus deployment would use (docs/SCALING.md).
--
-- This migration converts an existing unpartitioned ledger in place: every row is copied with every value
-- unchanged, including seq (the rollups' fold order) and recorded_at; total_tokens is recomputed by the same
-- expression. It runs in one transaction: it either converts everything or nothing.

ALTER TABLE ledger_event RENAME TO ledger_event_unpartitioned;

CREATE TABLE ledger_event (
  id uuid NOT NULL,
  request_id text NOT NULL,
  content_hash text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('api_call', 'agent_execution')),
  occurred_at timestamptz NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  task_id text,
  agent_id text,
  agent_execution_id text,
  user_id text,
  operation text,
  model text,
  provider text,
  endpoint text,
  input_tokens bigint NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
  cache_read_input_tokens bigint NOT NULL DEFAULT 0 CHECK (cache_read_input_tokens >= 0),
  cache_write_input_tokens bigint NOT NULL DEFAULT 0 CHECK (cache_write_input_tokens >= 0),
  output_tokens bigint NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
  reasoning_output_tokens bigint NOT NULL DEFAULT 0 CHECK (reasoning_output_tokens >= 0),
  total_tokens bigint GENERATED ALWAYS AS (input_tokens + output_tokens) STORED,
  cost_usd numeric CHECK (cost_usd >= 0),
  price_id uuid,
  duration_ms bigint NOT NULL DEFAULT 0 CHECK (duration_ms >= 0),
  status text NOT NULL CHECK (status IN ('succeeded', 'failed', 'cancelled')),
  error_message text,
  seq bigint NOT NULL,
  cost_source text CHECK (cost_source IN ('recorded')),
  CONSTRAINT ledger_event_parts_within_whole CHECK (
    cache_read_input_tokens + cache_write_input_tokens <= input_tokens
    AND reasoning_output_tokens <= output_tokens
  )
) PARTITION BY RANGE (occurred_at);

-- Every request id ever accepted (and not yet past the retention horizon), with where its event is.
CREATE TABLE ledger_request_key (
  request_id text PRIMARY KEY,
  occurred_at timestamptz NOT NULL
);

-- Creates the month partition holding `at` (UTC months) unless it exists; returns its name. Several server
-- processes may call it at once: the advisory lock makes them take turns, so the existence check is exact.
CREATE FUNCTION ledger_event_ensure_partition(at timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  month_start timestamptz := date_trunc('month', at, 'UTC');
  month_end timestamptz := (date_trunc('month', at, 'UTC') AT TIME ZONE 'UTC' + interval '1 month') AT TIME ZONE 'UTC';
  partition_name text := 'ledger_event_' || to_char(month_start AT TIME ZONE 'UTC', 'YYYY_MM');
BEGIN
  PERFORM pg_advisory_xact_lock(7310420152);
  IF to_regclass(partition_name) IS NULL THEN
    EXECUTE format('CREATE TABLE %I PARTITION OF ledger_event FOR VALUES FROM (%L) TO (%L)',
      partition_name, month_start, month_end);
  END IF;
  RETURN partition_name;
END
$$;

-- A partition for every month that holds events, and for this month and the next two.
SELECT ledger_event_ensure_partition(month)
FROM (
  SELECT DISTINCT date_trunc('month', occurred_at, 'UTC') AS month FROM ledger_event_unpartitioned
  UNION
  SELECT now() + make_interval(months => ahead) FROM generate_series(0, 2) AS ahead
) AS months;

-- Bulk copy first, indexes after: building an index once is cheaper than maintaining it row by row.
INSERT INTO ledger_event (
  id, request_id, content_hash, kind, occurred_at, recorded_at, task_id, agent_id, agent_execution_id, user_id,
  operation, model, provider, endpoint, input_tokens, cache_read_input_tokens, cache_write_input_tokens,
  output_tokens, reasoning_output_tokens, cost_usd, price_id, duration_ms, status, error_message, seq, cost_source
)
SELECT
  id, request_id, content_hash, kind, occurred_at, recorded_at, task_id, agent_id, agent_execution_id, user_id,
  operation, model, provider, endpoint, input_tokens, cache_read_input_tokens, cache_write_input_tokens,
  output_tokens, reasoning_output_tokens, cost_usd, price_id, duration_ms, status, error_message, seq, cost_source
FROM ledger_event_unpartitioned;

INSERT INTO ledger_request_key (request_id, occurred_at)
SELECT request_id, occurred_at FROM ledger_event_unpartitioned;

DROP TABLE ledger_event_unpartitioned;

-- seq goes on after the highest copied value (the old table's identity sequence went with it): the rollups'
-- watermark, which is at most that value, stays valid.
ALTER TABLE ledger_event ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY;
SELECT setval(pg_get_serial_sequence('ledger_event', 'seq'), (SELECT coalesce(max(seq), 0) + 1 FROM ledger_event), false);

ALTER TABLE ledger_event ADD CONSTRAINT ledger_event_pkey PRIMARY KEY (request_id, occurred_at);
CREATE INDEX ledger_event_occurred_at_idx ON ledger_event (occurred_at);
CREATE INDEX ledger_event_task_idx ON ledger_event (task_id, occurred_at) WHERE task_id IS NOT NULL;
CREATE INDEX ledger_event_user_idx ON ledger_event (user_id, occurred_at) WHERE user_id IS NOT NULL;
CREATE INDEX ledger_event_agent_idx ON ledger_event (agent_id, occurred_at) WHERE agent_id IS NOT NULL;
CREATE INDEX ledger_event_seq_idx ON ledger_event (seq);

-- The triggers of the rollups migration, on the new table (dropping the old table dropped its triggers).
CREATE TRIGGER ledger_event_hold_fold_lock BEFORE INSERT ON ledger_event
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_event_hold_fold_lock();

-- Deleting events (an administrative act: the ledger is append-only) also frees their request ids, and truncating
-- the ledger forgets every key, so ledger_request_key never names an event that is not there. Retention drops
-- whole partitions, which fires no trigger; it removes the month's keys itself (src/ledger/partitions.ts).
CREATE OR REPLACE FUNCTION ledger_event_reset_rollups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    TRUNCATE ledger_request_key;
  ELSE
    IF NOT EXISTS (SELECT 1 FROM changed_rows) THEN
      RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
      DELETE FROM ledger_request_key AS k USING changed_rows AS c WHERE k.request_id = c.request_id;
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
