import { WatchBudgetLevel, WatchGroupBy, type WatchSnapshot } from "../../../client/index.js";
import { UsageError, type Command } from "../command.js";
import { FILTER_HELP, FILTER_OPTIONS, filterFromFlags } from "../filter-flags.js";
import { groupDigits, table, usd } from "../output.js";
import { TOTALS_HEADERS, totalsCells } from "./stats.js";

const GROUPS: Record<string, WatchGroupBy> = {
  provider: WatchGroupBy.WATCH_GROUP_BY_PROVIDER,
  model: WatchGroupBy.WATCH_GROUP_BY_MODEL,
  agent: WatchGroupBy.WATCH_GROUP_BY_AGENT,
  user: WatchGroupBy.WATCH_GROUP_BY_USER,
  task: WatchGroupBy.WATCH_GROUP_BY_TASK,
  operation: WatchGroupBy.WATCH_GROUP_BY_OPERATION,
};

const LEVELS: Record<number, string> = {
  [WatchBudgetLevel.WATCH_BUDGET_LEVEL_HEALTHY]: "healthy",
  [WatchBudgetLevel.WATCH_BUDGET_LEVEL_WARNING]: "WARNING",
  [WatchBudgetLevel.WATCH_BUDGET_LEVEL_CRITICAL]: "CRITICAL",
};

/** One screen of a snapshot: the totals, the groups, the budget. */
function render(snapshot: WatchSnapshot, group: string | undefined, alerts: string[]): string {
  const s = snapshot.stats;
  const lines = [
    `costctl watch  (snapshot ${snapshot.sequence}, ${new Date(Number(snapshot.snapshotTime?.seconds ?? 0) * 1000).toISOString()})`,
    "",
    table(["", ...TOTALS_HEADERS], [["all", ...totalsCells(s?.totals)]]),
    `succeeded ${s?.succeededCallCount ?? 0}, failed ${s?.failedCallCount ?? 0}, success ${s?.successRatePercent ?? 0}%, ` +
      `p50 ${s?.p50CallDurationMs ?? 0} ms, p95 ${s?.p95CallDurationMs ?? 0} ms, agent runs ${s?.agentExecutionCount ?? 0}`,
  ];
  if (group) {
    lines.push("", table([group, ...TOTALS_HEADERS], snapshot.groups.map((g) => [g.key || "(none)", ...totalsCells(g.totals)])));
    if (Number(snapshot.omittedGroupCount) > 0) lines.push(`(+${groupDigits(snapshot.omittedGroupCount)} more)`);
  }
  const b = snapshot.budget;
  if (b) {
    lines.push(
      "",
      `budget: ${usd(b.spentUsd)} of ${usd(b.monthlyBudgetUsd)} (${b.percentUsed}%), projected ${usd(b.projectedMonthEndUsd)}, ` +
        `${LEVELS[b.level] ?? "?"}${b.projectionWarning ? ", projection over budget" : ""}`,
    );
  }
  if (alerts.length > 0) lines.push("", ...alerts.slice(-5).map((a) => `! ${a}`));
  return lines.join("\n");
}

export const watch: Command = {
  name: "watch",
  summary: "a live view of usage and budget, pushed by the server (WatchStats) as calls arrive",
  usage: "[--period <word> | --last <seconds>] [--group-by <dimension>] [filters]",
  help: [
    ["--period <word>", "today, week, month, last_1h, last_24h, ... (default today)"],
    ["--last <seconds>", "a rolling window of the last N seconds instead of --period"],
    ["--group-by <provider|model|agent|user|task|operation>", "also show the totals per value"],
    ["--interval <ms>", "at most one update per interval (default 1000)"],
    ["--tz <zone>", "IANA time zone for today and month (default UTC)"],
    ...FILTER_HELP,
    ["(--json)", "print every stream message as one JSON line, for scripts"],
  ],
  options: {
    period: { type: "string" },
    last: { type: "string" },
    "group-by": { type: "string" },
    interval: { type: "string" },
    tz: { type: "string" },
    ...FILTER_OPTIONS,
  },
  async run({ values, json, connect }) {
    const text = (name: string) => (typeof values[name] === "string" ? (values[name] as string) : undefined);
    const group = text("group-by");
    if (group !== undefined && GROUPS[group] === undefined) throw new UsageError(`--group-by must be one of ${Object.keys(GROUPS).join(", ")}`);
    const last = text("last");
    const interval = text("interval") ?? "1000";
    if ((last !== undefined && !/^\d+$/.test(last)) || !/^\d+$/.test(interval)) throw new UsageError("--last and --interval are whole numbers");
    const abort = new AbortController();
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => abort.abort());
    const alerts: string[] = [];
    const stream = connect().watchStats(
      {
        filter: filterFromFlags(values),
        ...(last ? { window: { seconds: last, nanos: 0 } } : { period: text("period") ?? "today" }),
        timeZone: text("tz") ?? "",
        groupBy: group ? GROUPS[group] : WatchGroupBy.WATCH_GROUP_BY_UNSPECIFIED,
        minInterval: { seconds: String(Math.floor(Number(interval) / 1000)), nanos: (Number(interval) % 1000) * 1_000_000 },
      },
      { signal: abort.signal },
    );
    const interactive = process.stdout.isTTY === true && !json;
    for await (const message of stream) {
      if (json) {
        console.log(JSON.stringify(message));
        continue;
      }
      if (message.budgetAlert) alerts.push(message.budgetAlert.message);
      if (message.snapshot) {
        const screen = render(message.snapshot, group, alerts);
        // On a terminal the view redraws in place; piped, each snapshot follows the last.
        process.stdout.write(interactive ? `\x1b[H\x1b[2J${screen}\n` : `${screen}\n\n`);
      }
    }
  },
};
