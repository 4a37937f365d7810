-- The price catalog and the ledger. Money is `numeric` (exact, unbounded scale); token counts are `bigint`, and
-- their sums are `numeric`, so no total can overflow 32 or 64 bits.

-- One row per version of a model's price. A version is in force from effective_from until the next version of the
-- same (model, provider). Rates are USD per million tokens; a NULL cache or reasoning rate falls back to the input
-- or output rate. Rows are only ever added.
CREATE TABLE model_price (
  id uuid PRIMARY KEY,
  model text NOT NULL,
  provider text NOT NULL,
  effective_from timestamptz NOT NULL,
  input_usd_per_mtok numeric NOT NULL CHECK (input_usd_per_mtok >= 0),
  cache_read_input_usd_per_mtok numeric CHECK (cache_read_input_usd_per_mtok >= 0),
  cache_write_input_usd_per_mtok numeric CHECK (cache_write_input_usd_per_mtok >= 0),
  output_usd_per_mtok numeric NOT NULL CHECK (output_usd_per_mtok >= 0),
  reasoning_output_usd_per_mtok numeric CHECK (reasoning_output_usd_per_mtok >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT model_price_version_unique UNIQUE (model, provider, effective_from)
);

-- Every recorded event. kind 'api_call' rows carry tokens and cost; kind 'agent_execution' rows carry an agent run
-- (its cost is the cost of the api_call rows that name its agent_execution_id, so it is never counted twice).
-- id is a UUIDv7 made by the service (time-ordered, so index inserts stay local). request_id is the caller's
-- idempotency key and content_hash a fingerprint of what was sent with it, to tell a retry from a reuse.
CREATE TABLE ledger_event (
  id uuid PRIMARY KEY,
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
  CONSTRAINT ledger_event_request_id_unique UNIQUE (request_id),
  CONSTRAINT ledger_event_parts_within_whole CHECK (
    cache_read_input_tokens + cache_write_input_tokens <= input_tokens
    AND reasoning_output_tokens <= output_tokens
  )
);

-- The dashboard's access paths: a time range, and a task, user or agent within a time range.
CREATE INDEX ledger_event_occurred_at_idx ON ledger_event (occurred_at);
CREATE INDEX ledger_event_task_idx ON ledger_event (task_id, occurred_at) WHERE task_id IS NOT NULL;
CREATE INDEX ledger_event_user_idx ON ledger_event (user_id, occurred_at) WHERE user_id IS NOT NULL;
CREATE INDEX ledger_event_agent_idx ON ledger_event (agent_id, occurred_at) WHERE agent_id IS NOT NULL;
