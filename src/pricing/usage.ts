import { Violations } from "../errors.js";

/**
 * The canonical token usage of one call. Parts are included in their whole: cache reads and writes are part of
 * inputTokens, reasoning is part of outputTokens. Counts are bigint so no token sum passes through a JS number.
 */
export interface Usage {
  inputTokens: bigint;
  cacheReadInputTokens: bigint;
  cacheWriteInputTokens: bigint;
  outputTokens: bigint;
  reasoningOutputTokens: bigint;
}

/** The largest token count one call may report: far above any real context window, far below int64 overflow. */
export const MAX_TOKENS_PER_CALL = 1_000_000_000_000n;

/** The wire form of a usage: int64 fields as decimal strings (ts-proto forceLong=string). */
export interface UsageFields {
  inputTokens: string;
  cacheReadInputTokens: string;
  cacheWriteInputTokens: string;
  outputTokens: string;
  reasoningOutputTokens: string;
}

const FIELD_NAMES: Record<keyof UsageFields, string> = {
  inputTokens: "input_tokens",
  cacheReadInputTokens: "cache_read_input_tokens",
  cacheWriteInputTokens: "cache_write_input_tokens",
  outputTokens: "output_tokens",
  reasoningOutputTokens: "reasoning_output_tokens",
};

/**
 * Validates a usage: every count a whole number from 0 to MAX_TOKENS_PER_CALL, and no part larger than its whole.
 * Violations are added under `path` (for example "usage"); returns undefined when any was found.
 */
export function usageFromFields(fields: UsageFields, path: string, violations: Violations): Usage | undefined {
  const before = violations.list.length;
  const count = (key: keyof UsageFields): bigint => {
    const text = fields[key];
    if (!/^-?\d+$/.test(text)) {
      violations.add(`${path}.${FIELD_NAMES[key]}`, `must be a whole number, got "${text}"`);
      return 0n;
    }
    const value = BigInt(text);
    if (value < 0n) violations.add(`${path}.${FIELD_NAMES[key]}`, `must not be negative, got ${text}`);
    else if (value > MAX_TOKENS_PER_CALL) {
      violations.add(`${path}.${FIELD_NAMES[key]}`, `must be at most ${MAX_TOKENS_PER_CALL}, got ${text}`);
    }
    return value;
  };
  const usage: Usage = {
    inputTokens: count("inputTokens"),
    cacheReadInputTokens: count("cacheReadInputTokens"),
    cacheWriteInputTokens: count("cacheWriteInputTokens"),
    outputTokens: count("outputTokens"),
    reasoningOutputTokens: count("reasoningOutputTokens"),
  };
  if (violations.list.length > before) return undefined;
  if (usage.cacheReadInputTokens + usage.cacheWriteInputTokens > usage.inputTokens) {
    violations.add(
      `${path}.cache_read_input_tokens`,
      `cache reads (${usage.cacheReadInputTokens}) plus cache writes (${usage.cacheWriteInputTokens}) must not exceed input_tokens (${usage.inputTokens})`,
    );
  }
  if (usage.reasoningOutputTokens > usage.outputTokens) {
    violations.add(
      `${path}.reasoning_output_tokens`,
      `reasoning tokens (${usage.reasoningOutputTokens}) must not exceed output_tokens (${usage.outputTokens})`,
    );
  }
  return violations.list.length > before ? undefined : usage;
}
