import {
  CostTotals as ProtoCostTotals,
  EventFilter as ProtoEventFilter,
  ReadReplicaStatus as ProtoReadReplicaStatus,
  TimeWindow as ProtoTimeWindow,
} from "../../gen/costtracking/v1/aggregation.js";
import { EventStatus as ProtoEventStatus } from "../../gen/costtracking/v1/ledger.js";
import {
  PriceResolution as ProtoPriceResolution,
  TokenKind as ProtoTokenKind,
  type CostLineItem,
  type PriceRef,
} from "../../gen/costtracking/v1/pricing.js";
import type {
  AnthropicUsage,
  GeminiUsageMetadata,
  OpenAiChatUsage,
  OpenAiResponsesUsage,
  Usage as ProtoUsage,
} from "../../gen/costtracking/v1/usage.js";
import type { Timestamp } from "../../gen/google/protobuf/timestamp.js";
import { isKnownTimeZone, type CostTotals, type EventFilter, type TimeWindow } from "../aggregation/event-filter.js";
import type { ReplicaStatus } from "../db/read-replica.js";
import type { Violations } from "../errors.js";
import type { EventStatus } from "../ledger/ledger-event.js";
import { formatMoney } from "../money.js";
import type { LineItem, Price, PriceResolution, TokenKind } from "../pricing/price.js";
import { usageFromFields, type Usage } from "../pricing/usage.js";
import { usageFromAnthropic, usageFromGemini, usageFromOpenAiChat, usageFromOpenAiResponses } from "../pricing/usage-shapes.js";
import { epochOfInstant, instantFromEpoch, type Instant } from "../time.js";
import { identifier, text } from "../validation.js";

/** A Timestamp as an Instant; undefined when absent. A malformed one is a violation of `field`. */
export function instantFromProto(ts: Timestamp | undefined, field: string, violations: Violations): Instant | undefined {
  if (!ts) return undefined;
  const seconds = /^-?\d+$/.test(ts.seconds) ? BigInt(ts.seconds) : undefined;
  const instant = seconds === undefined ? undefined : instantFromEpoch(seconds, ts.nanos);
  if (instant === undefined) {
    violations.add(field, "must be a valid timestamp between 0001-01-01 and 9999-12-31 with nanos from 0 to 999,999,999");
  }
  return instant;
}

export function instantToProto(instant: Instant): Timestamp {
  const { seconds, nanos } = epochOfInstant(instant);
  return { seconds: seconds.toString(), nanos };
}

const STATUS_FROM_PROTO: Partial<Record<number, EventStatus>> = {
  [ProtoEventStatus.EVENT_STATUS_SUCCEEDED]: "succeeded",
  [ProtoEventStatus.EVENT_STATUS_FAILED]: "failed",
  [ProtoEventStatus.EVENT_STATUS_CANCELLED]: "cancelled",
};

/** A required status; UNSPECIFIED and unknown numbers are violations. */
export function statusFromProto(value: ProtoEventStatus, field: string, violations: Violations): EventStatus {
  const status = STATUS_FROM_PROTO[value];
  if (!status) {
    violations.add(field, value === 0 ? "is required (EVENT_STATUS_UNSPECIFIED is not a status)" : `unknown status ${value}`);
    return "succeeded";
  }
  return status;
}

/** The canonical usage of a request's usage_shape oneof; required. */
export function usageFromProto(usage: ProtoUsage | undefined, field: string, violations: Violations): Usage | undefined {
  if (!usage) {
    violations.add(field, "is required");
    return undefined;
  }
  return usageFromFields(usage, field, violations);
}

/** The usage_shape oneof of CalculateCostRequest and TrackApiCallRequest (ts-proto: one optional field each). */
export interface UsageShape {
  usage?: ProtoUsage | undefined;
  openaiChatUsage?: OpenAiChatUsage | undefined;
  openaiResponsesUsage?: OpenAiResponsesUsage | undefined;
  anthropicUsage?: AnthropicUsage | undefined;
  geminiUsageMetadata?: GeminiUsageMetadata | undefined;
}

/**
 * The canonical usage of a request's usage_shape oneof, whichever shape was sent; required. A request with no
 * known shape (none set, or only a shape this server does not know) is a violation of "usage".
 */
export function usageShapeFromProto(shape: UsageShape, violations: Violations): Usage | undefined {
  const sent = [
    shape.usage && (() => usageFromFields(shape.usage!, "usage", violations)),
    shape.openaiChatUsage && (() => usageFromOpenAiChat(shape.openaiChatUsage!, "openai_chat_usage", violations)),
    shape.openaiResponsesUsage &&
      (() => usageFromOpenAiResponses(shape.openaiResponsesUsage!, "openai_responses_usage", violations)),
    shape.anthropicUsage && (() => usageFromAnthropic(shape.anthropicUsage!, "anthropic_usage", violations)),
    shape.geminiUsageMetadata && (() => usageFromGemini(shape.geminiUsageMetadata!, "gemini_usage_metadata", violations)),
  ].filter((read) => read !== undefined);
  if (sent.length !== 1) {
    violations.add(
      "usage",
      sent.length === 0
        ? "is required: send one of usage, openai_chat_usage, openai_responses_usage, anthropic_usage, gemini_usage_metadata"
        : "send exactly one usage shape",
    );
    return undefined;
  }
  return sent[0]!();
}

const WINDOW_FROM_PROTO: Partial<Record<number, TimeWindow>> = {
  [ProtoTimeWindow.TIME_WINDOW_HOUR]: "hour",
  [ProtoTimeWindow.TIME_WINDOW_DAY]: "day",
  [ProtoTimeWindow.TIME_WINDOW_WEEK]: "week",
  [ProtoTimeWindow.TIME_WINDOW_MONTH]: "month",
};

export function windowFromProto(value: ProtoTimeWindow, field: string, violations: Violations): TimeWindow {
  const window = WINDOW_FROM_PROTO[value];
  if (!window) violations.add(field, value === 0 ? "is required" : `unknown window ${value}`);
  return window ?? "day";
}

/** An IANA time zone name; empty means UTC. */
export function timeZoneFromProto(value: string, field: string, violations: Violations): string {
  if (value === "") return "UTC";
  if (!isKnownTimeZone(value)) violations.add(field, `unknown time zone "${value}"; use an IANA name such as "Europe/Paris"`);
  return value;
}

/** An optional filter; an empty status matches every status. */
export function filterFromProto(filter: ProtoEventFilter | undefined, field: string, violations: Violations): EventFilter {
  if (!filter) return {};
  const result: EventFilter = {
    startTime: instantFromProto(filter.startTime, `${field}.start_time`, violations),
    endTime: instantFromProto(filter.endTime, `${field}.end_time`, violations),
    taskId: identifier(filter.taskId, `${field}.task_id`, violations),
    agentId: identifier(filter.agentId, `${field}.agent_id`, violations),
    userId: identifier(filter.userId, `${field}.user_id`, violations),
    provider: text(filter.provider, `${field}.provider`, 100, violations)?.toLowerCase(),
    model: text(filter.model, `${field}.model`, 200, violations),
    operation: text(filter.operation, `${field}.operation`, 100, violations),
    status: filter.status === 0 ? undefined : statusFromProto(filter.status, `${field}.status`, violations),
  };
  if (result.startTime && result.endTime && result.endTime <= result.startTime) {
    violations.add(`${field}.end_time`, "must be after start_time");
  }
  return result;
}

export function totalsToProto(totals: CostTotals): ProtoCostTotals {
  return { ...totals };
}

const RESOLUTION_TO_PROTO: Record<PriceResolution, ProtoPriceResolution> = {
  exact: ProtoPriceResolution.PRICE_RESOLUTION_EXACT,
  provider_prefix: ProtoPriceResolution.PRICE_RESOLUTION_PROVIDER_PREFIX,
  tag: ProtoPriceResolution.PRICE_RESOLUTION_TAG,
  snapshot: ProtoPriceResolution.PRICE_RESOLUTION_SNAPSHOT,
  fine_tune: ProtoPriceResolution.PRICE_RESOLUTION_FINE_TUNE,
  local_model: ProtoPriceResolution.PRICE_RESOLUTION_LOCAL_MODEL,
  default_price: ProtoPriceResolution.PRICE_RESOLUTION_DEFAULT_PRICE,
};

export function priceRefToProto(price: Price): PriceRef {
  return {
    priceId: price.id,
    model: price.model,
    provider: price.provider,
    effectiveTime: instantToProto(price.effectiveFrom),
    resolution: price.resolution ? RESOLUTION_TO_PROTO[price.resolution] : ProtoPriceResolution.PRICE_RESOLUTION_UNSPECIFIED,
  };
}

const TOKEN_KIND_TO_PROTO: Record<TokenKind, ProtoTokenKind> = {
  input: ProtoTokenKind.TOKEN_KIND_INPUT,
  cache_read_input: ProtoTokenKind.TOKEN_KIND_CACHE_READ_INPUT,
  cache_write_input: ProtoTokenKind.TOKEN_KIND_CACHE_WRITE_INPUT,
  output: ProtoTokenKind.TOKEN_KIND_OUTPUT,
  reasoning_output: ProtoTokenKind.TOKEN_KIND_REASONING_OUTPUT,
};

export function lineItemToProto(item: LineItem): CostLineItem {
  return {
    kind: TOKEN_KIND_TO_PROTO[item.kind],
    tokens: item.tokens.toString(),
    rateUsdPerMillionTokens: formatMoney(item.ratePerMillion),
    amountUsd: formatMoney(item.amount),
    tierRate: item.tierRate,
  };
}

/** A read replica's lag; its replay lag as a Duration (absent when unknown). */
export function replicaStatusToProto(status: ReplicaStatus): ProtoReadReplicaStatus {
  const micros = status.replayLagMicros === undefined ? undefined : BigInt(status.replayLagMicros);
  return {
    ...(micros === undefined
      ? {}
      : { replayLag: { seconds: String(micros / 1_000_000n), nanos: Number(micros % 1_000_000n) * 1000 } }),
    lagBytes: status.lagBytes,
    standby: status.standby,
  };
}
