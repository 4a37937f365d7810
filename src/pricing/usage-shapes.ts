import type { Violations } from "../errors.js";
import { MAX_TOKENS_PER_CALL, type Usage } from "./usage.js";

/**
 * The provider-native usage shapes a caller may send instead of the canonical Usage, normalised here and only here,
 * so no caller does this arithmetic. Fields mirror the wire (int64 as decimal strings); a missing nested object
 * counts as zeros. Every violation names the native field under `path` (for example "gemini_usage_metadata").
 */

/** OpenAI Chat Completions `usage`: prompt includes cached, completion includes reasoning. */
export interface OpenAiChatUsageFields {
  promptTokens: string;
  completionTokens: string;
  totalTokens: string;
  promptTokensDetails?: { cachedTokens: string } | undefined;
  completionTokensDetails?: { reasoningTokens: string } | undefined;
}

/** OpenAI Responses `usage`: input includes cached, output includes reasoning. */
export interface OpenAiResponsesUsageFields {
  inputTokens: string;
  outputTokens: string;
  totalTokens: string;
  inputTokensDetails?: { cachedTokens: string } | undefined;
  outputTokensDetails?: { reasoningTokens: string } | undefined;
}

/** Anthropic Messages `usage`: input_tokens EXCLUDES the cache buckets. */
export interface AnthropicUsageFields {
  inputTokens: string;
  cacheCreationInputTokens: string;
  cacheReadInputTokens: string;
  outputTokens: string;
}

/** Gemini `usageMetadata`: thoughts sit OUTSIDE candidates; cached content is part of the prompt. */
export interface GeminiUsageMetadataFields {
  promptTokenCount: string;
  cachedContentTokenCount: string;
  candidatesTokenCount: string;
  thoughtsTokenCount: string;
  toolUsePromptTokenCount: string;
  totalTokenCount: string;
}

/** Reads one native count: a whole number from 0 to MAX_TOKENS_PER_CALL; a violation (and 0) otherwise. */
function count(text: string | undefined, field: string, violations: Violations): bigint {
  const value = text ?? "0";
  if (!/^-?\d+$/.test(value)) {
    violations.add(field, `must be a whole number, got "${value}"`);
    return 0n;
  }
  const parsed = BigInt(value);
  if (parsed < 0n) violations.add(field, `must not be negative, got ${value}`);
  else if (parsed > MAX_TOKENS_PER_CALL) violations.add(field, `must be at most ${MAX_TOKENS_PER_CALL}, got ${value}`);
  return parsed;
}

function atMost(part: bigint, whole: bigint, partField: string, wholeField: string, violations: Violations): void {
  if (part > whole) violations.add(partField, `(${part}) must not exceed ${wholeField} (${whole})`);
}

/** A provider's total, when sent (non-zero), must equal what its parts add up to: a cheap check on the mapping. */
function totalMatches(total: bigint, expected: bigint, field: string, violations: Violations): void {
  if (total !== 0n && total !== expected) violations.add(field, `(${total}) must equal the sum of the counts (${expected}), or be 0`);
}

/** Normalises OpenAI Chat Completions usage. */
export function usageFromOpenAiChat(u: OpenAiChatUsageFields, path: string, violations: Violations): Usage | undefined {
  const before = violations.list.length;
  const prompt = count(u.promptTokens, `${path}.prompt_tokens`, violations);
  const completion = count(u.completionTokens, `${path}.completion_tokens`, violations);
  const total = count(u.totalTokens, `${path}.total_tokens`, violations);
  const cachedField = `${path}.prompt_tokens_details.cached_tokens`;
  const cached = count(u.promptTokensDetails?.cachedTokens, cachedField, violations);
  const reasoningField = `${path}.completion_tokens_details.reasoning_tokens`;
  const reasoning = count(u.completionTokensDetails?.reasoningTokens, reasoningField, violations);
  if (violations.list.length > before) return undefined;
  atMost(cached, prompt, cachedField, "prompt_tokens", violations);
  atMost(reasoning, completion, reasoningField, "completion_tokens", violations);
  totalMatches(total, prompt + completion, `${path}.total_tokens`, violations);
  if (violations.list.length > before) return undefined;
  return usage(prompt, cached, 0n, completion, reasoning);
}

/** Normalises OpenAI Responses usage. */
export function usageFromOpenAiResponses(u: OpenAiResponsesUsageFields, path: string, violations: Violations): Usage | undefined {
  const before = violations.list.length;
  const input = count(u.inputTokens, `${path}.input_tokens`, violations);
  const output = count(u.outputTokens, `${path}.output_tokens`, violations);
  const total = count(u.totalTokens, `${path}.total_tokens`, violations);
  const cachedField = `${path}.input_tokens_details.cached_tokens`;
  const cached = count(u.inputTokensDetails?.cachedTokens, cachedField, violations);
  const reasoningField = `${path}.output_tokens_details.reasoning_tokens`;
  const reasoning = count(u.outputTokensDetails?.reasoningTokens, reasoningField, violations);
  if (violations.list.length > before) return undefined;
  atMost(cached, input, cachedField, "input_tokens", violations);
  atMost(reasoning, output, reasoningField, "output_tokens", violations);
  totalMatches(total, input + output, `${path}.total_tokens`, violations);
  if (violations.list.length > before) return undefined;
  return usage(input, cached, 0n, output, reasoning);
}

/** Normalises Anthropic usage: the canonical input is the uncached input plus both cache buckets. */
export function usageFromAnthropic(u: AnthropicUsageFields, path: string, violations: Violations): Usage | undefined {
  const before = violations.list.length;
  const input = count(u.inputTokens, `${path}.input_tokens`, violations);
  const cacheWrite = count(u.cacheCreationInputTokens, `${path}.cache_creation_input_tokens`, violations);
  const cacheRead = count(u.cacheReadInputTokens, `${path}.cache_read_input_tokens`, violations);
  const output = count(u.outputTokens, `${path}.output_tokens`, violations);
  if (violations.list.length > before) return undefined;
  return usage(input + cacheWrite + cacheRead, cacheRead, cacheWrite, output, 0n);
}

/** Normalises Gemini usageMetadata: thinking tokens are output (reasoning), tool-use prompt tokens are input. */
export function usageFromGemini(u: GeminiUsageMetadataFields, path: string, violations: Violations): Usage | undefined {
  const before = violations.list.length;
  const prompt = count(u.promptTokenCount, `${path}.prompt_token_count`, violations);
  const cachedField = `${path}.cached_content_token_count`;
  const cached = count(u.cachedContentTokenCount, cachedField, violations);
  const candidates = count(u.candidatesTokenCount, `${path}.candidates_token_count`, violations);
  const thoughts = count(u.thoughtsTokenCount, `${path}.thoughts_token_count`, violations);
  const toolUse = count(u.toolUsePromptTokenCount, `${path}.tool_use_prompt_token_count`, violations);
  const total = count(u.totalTokenCount, `${path}.total_token_count`, violations);
  if (violations.list.length > before) return undefined;
  atMost(cached, prompt, cachedField, "prompt_token_count", violations);
  totalMatches(total, prompt + toolUse + candidates + thoughts, `${path}.total_token_count`, violations);
  if (violations.list.length > before) return undefined;
  return usage(prompt + toolUse, cached, 0n, candidates + thoughts, thoughts);
}

function usage(input: bigint, cacheRead: bigint, cacheWrite: bigint, output: bigint, reasoning: bigint): Usage {
  return {
    inputTokens: input,
    cacheReadInputTokens: cacheRead,
    cacheWriteInputTokens: cacheWrite,
    outputTokens: output,
    reasoningOutputTokens: reasoning,
  };
}
