import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import { RequestIdReusedError, Violations } from "../errors.js";
import { Money, formatMoney } from "../money.js";
import type { Price } from "../pricing/price.js";
import { findPriceById } from "../pricing/price-catalog.repository.js";
import type { PricingService } from "../pricing/pricing.service.js";
import { instantFromDate, millisOfInstant, type Clock, type Instant } from "../time.js";
import { newEventId } from "./event-id.js";
import { contentHash, type NewAgentExecution, type NewApiCall } from "./ledger-event.js";
import { findEventsByRequestIds, insertNewEvents, type LedgerEventRow, type NewLedgerEventRow } from "./ledger.repository.js";

/** How an API call was recorded. `cost` and `price` are undefined when the model had no price. */
export interface TrackedApiCall {
  eventId: string;
  duplicate: boolean;
  cost: Money | undefined;
  price: Price | undefined;
}

/** How an agent execution was recorded. */
export interface TrackedAgentExecution {
  eventId: string;
  duplicate: boolean;
  agentExecutionId: string;
}

export interface LedgerServiceOptions {
  /** How far in the future an event time may lie. */
  maxClockSkewSeconds: number;
  clock: Clock;
  /**
   * Told after every write that committed new events (never for duplicates), so live monitors on every replica
   * can refresh. It must return at once and never throw: ingestion never waits for monitors.
   */
  onEventsCommitted?: ((events: CommittedEvents) => void) | undefined;
}

/** What a committed write added: how many events, and the span of their event times. */
export interface CommittedEvents {
  count: number;
  earliest: Instant;
  latest: Instant;
}

/** The earliest event time accepted: nothing in this ledger predates the Unix epoch. */
const EARLIEST_EVENT_TIME = "1970-01-01T00:00:00.000000Z";

/**
 * Records events exactly once. An event is written in one statement that skips a known request id; a skipped
 * event is then compared with the stored one: same content is a duplicate (the original is returned), other
 * content is a REQUEST_ID_REUSED error. The caller's reply is sent only after the statement has committed.
 */
export class LedgerService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly pricing: PricingService,
    private readonly options: LedgerServiceOptions,
  ) {}

  async trackApiCall(call: NewApiCall): Promise<TrackedApiCall> {
    const occurredAt = this.eventTime(call.callTime, "call_time");
    const quote = await this.pricing.quote(call.model, call.provider, call.usage, occurredAt);
    const eventId = newEventId(this.options.clock.now().getTime());
    const requestId = call.requestId ?? `server:${eventId}`;
    const row: NewLedgerEventRow = {
      id: eventId,
      request_id: requestId,
      content_hash: contentHash("api_call", call),
      kind: "api_call",
      occurred_at: occurredAt,
      task_id: call.taskId ?? null,
      agent_id: call.agentId ?? null,
      agent_execution_id: call.agentExecutionId ?? null,
      user_id: call.userId ?? null,
      operation: call.operation ?? null,
      model: call.model,
      provider: call.provider ?? (quote.priced ? quote.price.provider : null),
      endpoint: call.endpoint ?? null,
      input_tokens: call.usage.inputTokens.toString(),
      cache_read_input_tokens: call.usage.cacheReadInputTokens.toString(),
      cache_write_input_tokens: call.usage.cacheWriteInputTokens.toString(),
      output_tokens: call.usage.outputTokens.toString(),
      reasoning_output_tokens: call.usage.reasoningOutputTokens.toString(),
      cost_usd: quote.priced ? formatMoney(quote.cost) : null,
      price_id: quote.priced ? quote.price.id : null,
      duration_ms: call.durationMs.toString(),
      status: call.status,
      error_message: call.errorMessage ?? null,
    };
    const inserted = await this.insert([row]);
    if (inserted.has(requestId)) {
      return quote.priced
        ? { eventId, duplicate: false, cost: quote.cost, price: quote.price }
        : { eventId, duplicate: false, cost: undefined, price: undefined };
    }
    const original = await this.originalOf(row);
    const price = original.price_id ? await findPriceById(this.db, original.price_id) : undefined;
    return {
      eventId: original.id,
      duplicate: true,
      cost: original.cost_usd === null ? undefined : new Money(original.cost_usd),
      price,
    };
  }

  async trackAgentExecution(execution: NewAgentExecution): Promise<TrackedAgentExecution> {
    const occurredAt = this.eventTime(execution.startTime, "start_time");
    const eventId = newEventId(this.options.clock.now().getTime());
    const requestId = execution.requestId ?? `server:${eventId}`;
    const row: NewLedgerEventRow = {
      id: eventId,
      request_id: requestId,
      content_hash: contentHash("agent_execution", execution),
      kind: "agent_execution",
      occurred_at: occurredAt,
      task_id: execution.taskId ?? null,
      agent_id: execution.agentId,
      agent_execution_id: execution.agentExecutionId ?? eventId,
      user_id: execution.userId ?? null,
      operation: execution.operation ?? null,
      model: null,
      provider: null,
      endpoint: null,
      input_tokens: "0",
      cache_read_input_tokens: "0",
      cache_write_input_tokens: "0",
      output_tokens: "0",
      reasoning_output_tokens: "0",
      cost_usd: null,
      price_id: null,
      duration_ms: execution.durationMs.toString(),
      status: execution.status,
      error_message: execution.errorMessage ?? null,
    };
    const inserted = await this.insert([row]);
    if (inserted.has(requestId)) {
      return { eventId, duplicate: false, agentExecutionId: row.agent_execution_id! };
    }
    const original = await this.originalOf(row);
    return { eventId: original.id, duplicate: true, agentExecutionId: original.agent_execution_id ?? original.id };
  }

  /** The one write path: inserts the rows whose request id is new, then reports what committed. */
  private async insert(rows: NewLedgerEventRow[]): Promise<Set<string>> {
    const inserted = await insertNewEvents(this.db, rows);
    const added = rows.filter((r) => inserted.has(r.request_id)).map((r) => r.occurred_at);
    if (added.length > 0 && this.options.onEventsCommitted) {
      added.sort();
      this.options.onEventsCommitted({ count: added.length, earliest: added[0]!, latest: added[added.length - 1]! });
    }
    return inserted;
  }

  /** The stored event that holds a skipped row's request id; throws when its content differs. */
  private async originalOf(row: NewLedgerEventRow): Promise<LedgerEventRow> {
    const [original] = await findEventsByRequestIds(this.db, [row.request_id]);
    if (!original || original.content_hash !== row.content_hash || original.kind !== row.kind) {
      throw new RequestIdReusedError(row.request_id);
    }
    return original;
  }

  /** The event's time: the given one (checked against the allowed clock skew) or now. */
  private eventTime(given: Instant | undefined, field: string): Instant {
    const now = this.options.clock.now();
    if (given === undefined) return instantFromDate(now);
    const violations = new Violations();
    const aheadSeconds = (millisOfInstant(given) - now.getTime()) / 1000;
    if (aheadSeconds > this.options.maxClockSkewSeconds) {
      violations.add(
        field,
        `is ${Math.round(aheadSeconds)} s in the future; at most ${this.options.maxClockSkewSeconds} s of clock skew is allowed`,
      );
    }
    if (given < EARLIEST_EVENT_TIME) violations.add(field, "must not be before 1970-01-01T00:00:00Z");
    violations.throwIfAny();
    return given;
  }
}
