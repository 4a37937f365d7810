-- Where an event's cost came from: NULL for the service's own catalog price (price_id names the entry), 'recorded'
-- for a cost billed by the caller's own accounting (TrackApiCallRequest.recorded_cost_usd, used by history
-- imports such as the old service's cost_logs). A recorded cost has no price_id.
ALTER TABLE ledger_event ADD COLUMN cost_source text CHECK (cost_source IN ('recorded'));
