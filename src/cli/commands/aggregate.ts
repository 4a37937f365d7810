import { TimeWindow } from "../../../client/index.js";
import { UsageError, wholeFlag, type Command } from "../command.js";
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
  summary: "cost and usage grouped by dimensions and/or time windows, or one task's breakdown",
  usage: "--by <dims> [--window <w>] [--period <word>] [--limit <n>] [filters]  |  --window <w> [filters]  |  --task <id>",
  help: [
    ["--by <dims>", "group by comma-separated dimensions: task, agent, user, provider, model, operation, status, agent_execution"],
    ["--period <word>", "with --by: a range word (today, month, last_7d, all, ...) replacing --from/--to"],
    ["--limit <n>", "with --by: at most this many rows, most expensive first"],
    ["--window <hour|day|week|month>", "one row per calendar window of the time zone"],
    ["--tz <zone>", "IANA time zone of the windows (default UTC)"],
    ["--task <id> (without --window)", "the task's totals by operation, model and agent"],
    ...FILTER_HELP,
  ],
  options: { by: { type: "string" }, period: { type: "string" }, limit: { type: "string" }, window: { type: "string" }, tz: { type: "string" }, ...FILTER_OPTIONS },
  async run({ values, json, connect }) {
    const client = connect();
    if (typeof values.by === "string") {
      const groupBy = values.by.split(",").map((d) => d.trim()).filter(Boolean);
      const window = typeof values.window === "string" ? WINDOWS[values.window] : TimeWindow.TIME_WINDOW_UNSPECIFIED;
      if (window === undefined) throw new UsageError(`--window must be one of ${Object.keys(WINDOWS).join(", ")}`);
      const response = await client.aggregateCosts({
        filter: filterFromFlags(values),
        groupBy,
        window,
        timeZone: typeof values.tz === "string" ? values.tz : "",
        period: typeof values.period === "string" ? values.period : "",
        limit: Number(wholeFlag(values, "limit")),
      });
      if (json) return printJson(response);
      const withWindow = window !== TimeWindow.TIME_WINDOW_UNSPECIFIED;
      const rows = response.rows.map((r) => [...(withWindow ? [r.label] : []), ...r.keys.map((k) => k || "(none)"), ...totalsCells(r.totals)]);
      const blank = Array.from({ length: groupBy.length + (withWindow ? 1 : 0) - 1 }, () => "");
      console.log(table([...(withWindow ? ["window start"] : []), ...groupBy, ...TOTALS_HEADERS], [...rows, ["total", ...blank, ...totalsCells(response.totals)]]));
      return;
    }
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
