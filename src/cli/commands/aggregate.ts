import { TimeWindow } from "../../../client/index.js";
import { UsageError, type Command } from "../command.js";
import { FILTER_HELP, FILTER_OPTIONS, filterFromFlags } from "../filter-flags.js";
import { printJson, table } from "../output.js";
import { TOTALS_HEADERS, totalsCells } from "./stats.js";

const WINDOWS: Record<string, TimeWindow> = {
  hour: TimeWindow.TIME_WINDOW_HOUR,
  day: TimeWindow.TIME_WINDOW_DAY,
  week: TimeWindow.TIME_WINDOW_WEEK,
  month: TimeWindow.TIME_WINDOW_MONTH,
};

export const aggregate: Command = {
  name: "aggregate",
  summary: "cost and usage per time window, or one task's breakdown",
  usage: "--window <hour|day|week|month> [--tz <zone>] [filters]  |  --task <id>",
  help: [
    ["--window <hour|day|week|month>", "one row per calendar window of the time zone"],
    ["--tz <zone>", "IANA time zone of the windows (default UTC)"],
    ["--task <id> (without --window)", "the task's totals by operation, model and agent"],
    ...FILTER_HELP,
  ],
  options: { window: { type: "string" }, tz: { type: "string" }, ...FILTER_OPTIONS },
  async run({ values, json, connect }) {
    const client = connect();
    if (typeof values.window === "string") {
      const window = WINDOWS[values.window];
      if (window === undefined) throw new UsageError(`--window must be one of ${Object.keys(WINDOWS).join(", ")}`);
      const response = await client.aggregateByPeriod({
        filter: filterFromFlags(values),
        window,
        timeZone: typeof values.tz === "string" ? values.tz : "",
      });
      if (json) return printJson(response);
      const rows = response.buckets.map((b) => [b.label, ...totalsCells(b.totals)]);
      console.log(table(["window start", ...TOTALS_HEADERS], [...rows, ["total", ...totalsCells(response.totals)]]));
      return;
    }
    if (typeof values.task !== "string") throw new UsageError("give --window, or --task for a task's breakdown");
    const response = await client.aggregateByTask({ taskId: values.task, filter: { ...filterFromFlags(values), taskId: "" } });
    if (json) return printJson(response);
    console.log(table(["task", ...TOTALS_HEADERS], [[response.taskId, ...totalsCells(response.totals)]]));
    for (const [title, groups] of [["operation", response.byOperation], ["model", response.byModel], ["agent", response.byAgent]] as const) {
      console.log(`\nby ${title}`);
      console.log(table([title, ...TOTALS_HEADERS], groups.map((g) => [g.key || "(none)", ...totalsCells(g.totals)])));
    }
    console.log(`\nagent executions: ${response.agentExecutionCount}`);
  },
};
