import type { Command } from "../command.js";
import { printJson, table, usd } from "../output.js";
import { TOTALS_HEADERS, totalsCells } from "./stats.js";

export const summary: Command = {
  name: "summary",
  summary: "the dashboard summary: cost today, this week and month, per task, by operation and model",
  usage: "[--period today|week|month] [--user <id> | --agent <id>] [--tz <zone>]",
  help: [
    ["--period <today|week|month>", "the range of the breakdowns and task figures (default month)"],
    ["--user, --agent <id>", "only this user's or agent's calls"],
    ["--tz <zone>", "IANA time zone whose midnight starts today (default UTC)"],
  ],
  options: { period: { type: "string" }, user: { type: "string" }, agent: { type: "string" }, tz: { type: "string" } },
  async run({ values, json, connect }) {
    const text = (name: string) => (typeof values[name] === "string" ? (values[name] as string) : "");
    const r = await connect().getCostSummary({ period: text("period"), userId: text("user"), agentId: text("agent"), timeZone: text("tz") });
    if (json) return printJson(r);
    console.log(`today ${usd(r.todayCostUsd)}   week ${usd(r.weekCostUsd)}   month ${usd(r.monthCostUsd)}`);
    console.log(`${r.period}: ${r.taskCount} tasks, average ${usd(r.averageCostPerTaskUsd)} per task\n`);
    console.log(table(TOTALS_HEADERS, [totalsCells(r.totals)]));
    for (const [title, shares] of [["operation", r.byOperation], ["model", r.byModel]] as const) {
      console.log(`\nby ${title}`);
      console.log(table([title, "cost", "share"], shares.map((s) => [s.key || "(none)", usd(s.totals?.costUsd ?? "0"), `${s.percentOfTotal}%`])));
    }
  },
};
