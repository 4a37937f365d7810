import { requireFlag, UsageError, type Command } from "../command.js";
import { printJson } from "../output.js";
import { replayTrace } from "../replay-trace.js";
import { progressReporter } from "../progress.js";
import { TOTALS_HEADERS, totalsCells } from "./stats.js";
import { table } from "../output.js";

export const importCommand: Command = {
  name: "import",
  summary: "import events: an Azure LLM inference trace",
  usage: "trace <file.csv> --model <name> [--provider <name>]",
  help: [
    ["trace <file.csv>", "an Azure LLM inference trace (TIMESTAMP,ContextTokens,GeneratedTokens), every row one call"],
    ["--model <name>", "the model to record the trace's calls as (required for trace)"],
    ["--provider <name>", "the provider"],
    ["--task <id>", "the task to record them under (default replay:<file>:<model>)"],
  ],
  options: { model: { type: "string" }, provider: { type: "string" }, task: { type: "string" } },
  async run({ values, positionals, json, connect }) {
    const [format, file] = positionals;
    if (format !== "trace" || !file) throw new UsageError("usage: costctl import trace <file.csv> --model <name>");
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
