import { requireFlag, UsageError, wholeFlag, type Command } from "../command.js";
import { importJsonl } from "../event-export.js";
import { importLegacyCostLogs } from "../legacy-import.js";
import { printJson } from "../output.js";
import { replayTrace } from "../replay-trace.js";
import { progressReporter } from "../progress.js";
import { TOTALS_HEADERS, totalsCells } from "./stats.js";
import { table } from "../output.js";

export const importCommand: Command = {
  name: "import",
  summary: "import events: an Azure LLM inference trace, the old service's cost_logs, or JSON Lines from export",
  usage: "trace <file.csv> --model <name>  |  legacy --database-url <url> [--table cost_logs]  |  jsonl <file>",
  help: [
    ["trace <file.csv>", "an Azure LLM inference trace (TIMESTAMP,ContextTokens,GeneratedTokens), every row one call"],
    ["--model <name>", "the model to record the trace's calls as (required for trace)"],
    ["--provider <name>", "the provider"],
    ["--task <id>", "the task to record them under (default replay:<file>:<model>)"],
    ["legacy", "the old service's cost_logs table, from another PostgreSQL database (request ids legacy:<table>:<id>)"],
    ["--database-url <url>", "the legacy database, postgres://user@host:port/db (required for legacy)"],
    ["--table <name>", "the legacy table (default cost_logs)"],
    ["--checkpoint <file>", "resume after the last page this file records as acknowledged, and keep it updated"],
    ["--page-size <n>", "legacy rows per page (default 5000)"],
    ["jsonl <file|->", "events in costctl export's JSON Lines format (same request ids: importing again adds nothing)"],
    ["--keep-costs", "jsonl: record every exported cost as billed instead of re-pricing with this server's catalog"],
  ],
  options: {
    model: { type: "string" },
    provider: { type: "string" },
    task: { type: "string" },
    "database-url": { type: "string" },
    table: { type: "string" },
    checkpoint: { type: "string" },
    "page-size": { type: "string" },
    "keep-costs": { type: "boolean" },
  },
  async run({ values, positionals, json, connect }) {
    const [format, file] = positionals;
    if (format === "jsonl") {
      if (!file) throw new UsageError("usage: costctl import jsonl <file|->");
      const progress = progressReporter("events");
      const report = await importJsonl(connect(), file, values["keep-costs"] === true, progress.update);
      progress.done();
      if (json) return printJson(report);
      printImportReport(report);
      return;
    }
    if (format === "legacy") {
      const progress = progressReporter("rows");
      const report = await importLegacyCostLogs(connect(), {
        databaseUrl: requireFlag(values, "database-url"),
        ...(typeof values.table === "string" ? { table: values.table } : {}),
        ...(typeof values.checkpoint === "string" ? { checkpointFile: values.checkpoint } : {}),
        pageSize: Number(wholeFlag(values, "page-size", "5000")) || 5000,
        onProgress: progress.update,
      });
      progress.done();
      if (json) return printJson(report);
      printImportReport(report);
      if (report.resumedAfterId !== null) console.log(`resumed after legacy id ${report.resumedAfterId}`);
      console.log(`rows with a legacy cost (kept as billed, cost_source "recorded"): ${report.recordedCostRows}; with a NULL cost (priced from the catalog): ${report.catalogPricedRows}`);
      console.log(`legacy cost total $${report.legacyCostUsd}`);
      if (report.totalTokenMismatches > 0) console.log(`total_tokens ignored on ${report.totalTokenMismatches} rows where it was not input + output`);
      return;
    }
    if (format !== "trace" || !file) throw new UsageError("usage: costctl import trace|legacy|jsonl ...; costctl import --help");
    const progress = progressReporter("calls");
    const result = await replayTrace(connect(), file, {
      model: requireFlag(values, "model"),
      ...(typeof values.provider === "string" ? { provider: values.provider } : {}),
      ...(typeof values.task === "string" ? { taskId: values.task } : {}),
      onProgress: progress.update,
    });
    progress.done();
    if (json) return printJson({ read: result.sent, duplicates: result.duplicates, taskId: result.taskId, totals: result.task.totals });
    console.log(`read ${result.sent}, stored ${result.sent - result.duplicates}, already recorded ${result.duplicates}`);
    console.log(table(["task", ...TOTALS_HEADERS], [[result.taskId, ...totalsCells(result.task.totals)]]));
  },
};

/** The final report of an import: read, stored, duplicates, rejected with reasons. */
function printImportReport(report: { read: number; stored: number; duplicates: number; rejected: number; rejections: Array<{ legacyId?: string; line?: number; reason: string }> }): void {
  console.log(`read ${report.read}, stored ${report.stored}, duplicates ${report.duplicates}, rejected ${report.rejected}`);
  for (const r of report.rejections) console.log(`  rejected ${r.legacyId !== undefined ? `legacy id ${r.legacyId}` : `line ${r.line}`}: ${r.reason}`);
  if (report.rejected > report.rejections.length) console.log(`  (${report.rejected - report.rejections.length} more rejections not listed)`);
}
