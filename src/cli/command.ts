import type { ParseArgsConfig } from "node:util";
import type { CostTrackingClient } from "../../client/index.js";

/** One costctl command. */
export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The usage line after "costctl <name>", e.g. "<file> --model <name>". */
  usage: string;
  /** Flag descriptions for --help, in order. */
  help: Array<[flag: string, description: string]>;
  options: NonNullable<ParseArgsConfig["options"]>;
  /** Runs with parsed flags; `connect` opens the typed client on --server (closed by the caller). */
  run(context: CommandContext): Promise<void>;
}

export interface CommandContext {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  json: boolean;
  connect(): CostTrackingClient;
}

/** A user error: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Reads a required string flag. */
export function requireFlag(values: CommandContext["values"], name: string): string {
  const value = values[name];
  if (typeof value !== "string" || value === "") throw new UsageError(`--${name} is required`);
  return value;
}

/** Reads an optional whole-number flag as a decimal string (int64 on the wire). */
export function wholeFlag(values: CommandContext["values"], name: string, fallback = "0"): string {
  const value = values[name];
  if (value === undefined) return fallback;
  if (typeof value !== "string" || !/^\d+$/.test(value)) throw new UsageError(`--${name} must be a whole number, got "${String(value)}"`);
  return value;
}

/** Reads an optional ISO-8601 time flag as a protobuf Timestamp. */
export function timeFlag(values: CommandContext["values"], name: string): { seconds: string; nanos: number } | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  const match = typeof value === "string" ? /^(.*?)(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(value) : null;
  const millis = match ? Date.parse(`${match[1]}${match[3]}`) : NaN;
  if (!match || Number.isNaN(millis)) {
    throw new UsageError(`--${name} must be an ISO-8601 time with a zone, e.g. 2025-03-09T18:00:00Z, got "${String(value)}"`);
  }
  return { seconds: String(Math.floor(millis / 1000)), nanos: Number((match[2] ?? "").padEnd(9, "0")) };
}
