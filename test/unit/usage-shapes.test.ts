import { describe, expect, it } from "vitest";
import { Violations } from "../../src/errors.js";
import { usageFromFields } from "../../src/pricing/usage.js";
import {
  usageFromAnthropic,
  usageFromGemini,
  usageFromOpenAiChat,
  usageFromOpenAiResponses,
} from "../../src/pricing/usage-shapes.js";

const canonical = (input: bigint, cacheRead: bigint, cacheWrite: bigint, output: bigint, reasoning: bigint) => ({
  inputTokens: input,
  cacheReadInputTokens: cacheRead,
  cacheWriteInputTokens: cacheWrite,
  outputTokens: output,
  reasoningOutputTokens: reasoning,
});

describe("provider-native usage shapes", () => {
  it("maps OpenAI chat usage directly: prompt includes cached, completion includes reasoning", () => {
    const v = new Violations();
    const usage = usageFromOpenAiChat(
      {
        promptTokens: "100",
        completionTokens: "1000",
        totalTokens: "1100",
        promptTokensDetails: { cachedTokens: "40" },
        completionTokensDetails: { reasoningTokens: "800" },
      },
      "openai_chat_usage",
      v,
    );
    expect(v.list).toEqual([]);
    expect(usage).toEqual(canonical(100n, 40n, 0n, 1000n, 800n));
  });

  it("treats missing OpenAI details as zero", () => {
    const v = new Violations();
    expect(usageFromOpenAiChat({ promptTokens: "5", completionTokens: "7", totalTokens: "0" }, "u", v)).toEqual(canonical(5n, 0n, 0n, 7n, 0n));
  });

  it("maps OpenAI Responses usage", () => {
    const v = new Violations();
    const usage = usageFromOpenAiResponses(
      {
        inputTokens: "2006",
        outputTokens: "300",
        totalTokens: "2306",
        inputTokensDetails: { cachedTokens: "1920" },
        outputTokensDetails: { reasoningTokens: "0" },
      },
      "openai_responses_usage",
      v,
    );
    expect(usage).toEqual(canonical(2006n, 1920n, 0n, 300n, 0n));
  });

  it("adds Anthropic's cache buckets to its input, which excludes them", () => {
    const v = new Violations();
    const usage = usageFromAnthropic(
      { inputTokens: "50", cacheCreationInputTokens: "1000", cacheReadInputTokens: "2000", outputTokens: "300" },
      "anthropic_usage",
      v,
    );
    expect(usage).toEqual(canonical(3050n, 2000n, 1000n, 300n, 0n));
  });

  it("counts Gemini thinking tokens as output (reasoning), outside the candidates", () => {
    const v = new Violations();
    const usage = usageFromGemini(
      {
        promptTokenCount: "15",
        cachedContentTokenCount: "0",
        candidatesTokenCount: "359",
        thoughtsTokenCount: "661",
        toolUsePromptTokenCount: "0",
        totalTokenCount: "1035",
      },
      "gemini_usage_metadata",
      v,
    );
    expect(v.list).toEqual([]);
    expect(usage).toEqual(canonical(15n, 0n, 0n, 1020n, 661n));
  });

  it("counts Gemini tool-use prompt tokens as input and cached content as cache reads", () => {
    const v = new Violations();
    const usage = usageFromGemini(
      {
        promptTokenCount: "1000",
        cachedContentTokenCount: "600",
        candidatesTokenCount: "10",
        thoughtsTokenCount: "0",
        toolUsePromptTokenCount: "20",
        totalTokenCount: "0",
      },
      "g",
      v,
    );
    expect(usage).toEqual(canonical(1020n, 600n, 0n, 10n, 0n));
  });

  it("names the native field of a part larger than its whole", () => {
    const v = new Violations();
    const usage = usageFromOpenAiChat(
      { promptTokens: "10", completionTokens: "5", totalTokens: "0", promptTokensDetails: { cachedTokens: "11" } },
      "openai_chat_usage",
      v,
    );
    expect(usage).toBeUndefined();
    expect(v.list.map((x) => x.field)).toEqual(["openai_chat_usage.prompt_tokens_details.cached_tokens"]);
  });

  it("names a negative, a non-integer and a wrong total", () => {
    const v = new Violations();
    usageFromGemini(
      {
        promptTokenCount: "-1",
        cachedContentTokenCount: "1.5",
        candidatesTokenCount: "3",
        thoughtsTokenCount: "0",
        toolUsePromptTokenCount: "0",
        totalTokenCount: "0",
      },
      "gemini_usage_metadata",
      v,
    );
    usageFromAnthropic({ inputTokens: "1", cacheCreationInputTokens: "0", cacheReadInputTokens: "0", outputTokens: "x" }, "anthropic_usage", v);
    usageFromOpenAiResponses({ inputTokens: "1", outputTokens: "1", totalTokens: "3" }, "openai_responses_usage", v);
    expect(v.list.map((x) => x.field)).toEqual([
      "gemini_usage_metadata.prompt_token_count",
      "gemini_usage_metadata.cached_content_token_count",
      "anthropic_usage.output_tokens",
      "openai_responses_usage.total_tokens",
    ]);
  });

  it("refuses non-integer canonical tokens naming the field", () => {
    const v = new Violations();
    usageFromFields(
      { inputTokens: "1.5", cacheReadInputTokens: "0", cacheWriteInputTokens: "0", outputTokens: "0", reasoningOutputTokens: "0" },
      "usage",
      v,
    );
    expect(v.list.map((x) => x.field)).toEqual(["usage.input_tokens"]);
  });
});
