import { UsageError, type Command } from "../command.js";
import { exportEvents, type ExportFormat } from "../event-export.js";
import { FILTER_HELP, FILTER_OPTIONS, filterFromFlags } from "../filter-flags.js";

export const exportCommand: Command = {
  name: "export",
  summary: "write events as CSV or JSON Lines, streamed (constant memory at any size)",
  usage: "--format <csv|jsonl> [--output <file>] [filters]",
  help: [
    ["--format <csv|jsonl>", "CSV with a header row, or JSON Lines (one event per line; costctl import jsonl reads it back)"],
    ["--output <file>", "write to this file (default stdout)"],
    ...FILTER_HELP,
  ],
  options: { format: { type: "string" }, output: { type: "string" }, ...FILTER_OPTIONS },
  async run({ values, connect }) {
    const format = values.format;
    if (format !== "csv" && format !== "jsonl") throw new UsageError("--format must be csv or jsonl");
    const output = typeof values.output === "string" ? values.output : undefined;
    const count = await exportEvents(connect(), filterFromFlags(values), format as ExportFormat, output);
    // The count goes to stderr, so that stdout holds only the export.
    if (output) console.error(`exported ${count} events to ${output}`);
  },
};
