import { EventStatus, type DeepPartial, type TrackApiCallRequest, type Usage } from "../../../client/index.js";
import { requireFlag, timeFlag, wholeFlag, type Command, type CommandContext } from "../command.js";
import { statusFromWord } from "../filter-flags.js";
import { printJson, usd } from "../output.js";

/** The usage flags shared by track and estimate. */
export const USAGE_OPTIONS = {
  "input-tokens": { type: "string" },
  "cache-read-tokens": { type: "string" },
  "cache-write-tokens": { type: "string" },
  "output-tokens": { type: "string" },
  "reasoning-tokens": { type: "string" },
} as const;

export const USAGE_HELP: Array<[string, string]> = [
  ["--input-tokens <n>", "all input tokens, cache reads and writes included"],
  ["--cache-read-tokens <n>, --cache-write-tokens <n>", "of the input tokens, those read from / written to a cache"],
  ["--output-tokens <n>", "all output tokens, reasoning included"],
  ["--reasoning-tokens <n>", "of the output tokens, the reasoning tokens"],
];

export function usageFromFlags(values: CommandContext["values"]): DeepPartial<Usage> {
  return {
    inputTokens: wholeFlag(values, "input-tokens"),
    cacheReadInputTokens: wholeFlag(values, "cache-read-tokens"),
    cacheWriteInputTokens: wholeFlag(values, "cache-write-tokens"),
    outputTokens: wholeFlag(values, "output-tokens"),
    reasoningOutputTokens: wholeFlag(values, "reasoning-tokens"),
  };
}

export const track: Command = {
  name: "track",
  summary: "record one API call",
  usage: "--model <name> --input-tokens <n> --output-tokens <n> [flags]",
  help: [
    ["--model <name>", "the model that served the call (required)"],
    ["--provider <name>", "the provider, e.g. openai"],
    ...USAGE_HELP,
    ["--task, --agent, --user, --agent-execution <id>", "who and what the call belongs to"],
    ["--operation <name>, --endpoint <path>", "what the call was for, and the API endpoint"],
    ["--duration-ms <n>", "how long the call took"],
    ["--status <succeeded|failed|cancelled>", "how it ended (default succeeded)"],
    ["--error <text>", "the error of a failed call"],
    ["--time <iso>", "when the call started (default now)"],
    ["--request-id <id>", "idempotency key (default: generated; repeat it to retry safely)"],
  ],
  options: {
    model: { type: "string" },
    provider: { type: "string" },
    ...USAGE_OPTIONS,
    task: { type: "string" },
    agent: { type: "string" },
    user: { type: "string" },
    "agent-execution": { type: "string" },
    operation: { type: "string" },
    endpoint: { type: "string" },
    "duration-ms": { type: "string" },
    status: { type: "string", default: "succeeded" },
    error: { type: "string" },
    time: { type: "string" },
    "request-id": { type: "string" },
  },
  async run({ values, json, connect }) {
    const text = (name: string) => (typeof values[name] === "string" ? (values[name] as string) : "");
    const request: DeepPartial<TrackApiCallRequest> = {
      requestId: text("request-id"),
      model: requireFlag(values, "model"),
      provider: text("provider"),
      usage: usageFromFlags(values),
      taskId: text("task"),
      agentId: text("agent"),
      userId: text("user"),
      agentExecutionId: text("agent-execution"),
      operation: text("operation"),
      endpoint: text("endpoint"),
      durationMs: wholeFlag(values, "duration-ms"),
      status: statusFromWord(text("status") || "succeeded") ?? EventStatus.EVENT_STATUS_SUCCEEDED,
      errorMessage: text("error"),
      callTime: timeFlag(values, "time"),
    };
    const response = await connect().trackApiCall(request);
    if (json) return printJson(response);
    const price = response.price ? ` (${response.price.provider}/${response.price.model}, price ${response.price.priceId})` : "";
    console.log(`${response.duplicate ? "already recorded" : "recorded"} event ${response.eventId}: ${usd(response.costUsd)}${price}`);
  },
};
