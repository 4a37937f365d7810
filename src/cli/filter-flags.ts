import type { ParseArgsConfig } from "node:util";
import { EventStatus, type DeepPartial, type EventFilter } from "../../client/index.js";
import { timeFlag, UsageError, type CommandContext } from "./command.js";

/** The flags every query command shares, one per EventFilter field. */
export const FILTER_OPTIONS: NonNullable<ParseArgsConfig["options"]> = {
  from: { type: "string" },
  to: { type: "string" },
  task: { type: "string" },
  agent: { type: "string" },
  user: { type: "string" },
  provider: { type: "string" },
  model: { type: "string" },
  operation: { type: "string" },
  status: { type: "string" },
};

export const FILTER_HELP: Array<[string, string]> = [
  ["--from <time>, --to <time>", "ISO-8601 range [from, to), e.g. 2025-03-01T00:00:00Z"],
  ["--task, --agent, --user <id>", "only events of this task, agent or user"],
  ["--provider, --model, --operation <name>", "only calls with this provider, model or operation"],
  ["--status <succeeded|failed|cancelled>", "only events with this status"],
];

const STATUSES: Record<string, EventStatus> = {
  succeeded: EventStatus.EVENT_STATUS_SUCCEEDED,
  failed: EventStatus.EVENT_STATUS_FAILED,
  cancelled: EventStatus.EVENT_STATUS_CANCELLED,
};

/** A status word as the proto enum. */
export function statusFromWord(word: string): EventStatus {
  const status = STATUSES[word.toLowerCase()];
  if (status === undefined) throw new UsageError(`--status must be one of ${Object.keys(STATUSES).join(", ")}, got "${word}"`);
  return status;
}

export function filterFromFlags(values: CommandContext["values"]): DeepPartial<EventFilter> {
  const text = (name: string) => (typeof values[name] === "string" ? (values[name] as string) : "");
  return {
    startTime: timeFlag(values, "from"),
    endTime: timeFlag(values, "to"),
    taskId: text("task"),
    agentId: text("agent"),
    userId: text("user"),
    provider: text("provider"),
    model: text("model"),
    operation: text("operation"),
    status: text("status") ? statusFromWord(text("status")) : EventStatus.EVENT_STATUS_UNSPECIFIED,
  };
}
