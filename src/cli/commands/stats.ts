import type { CostTotals, GetStatsResponse } from "../../../client/index.js";
import type { Command } from "../command.js";
import { FILTER_HELP, FILTER_OPTIONS, filterFromFlags } from "../filter-flags.js";
import { groupDigits, printJson, table, usd } from "../output.js";

/** The standard columns of a totals row. */
export const TOTALS_HEADERS = ["calls", "input tokens", "output tokens", "cost", "unpriced"];
export function totalsCells(totals: CostTotals | undefined): string[] {
  return [
    groupDigits(totals?.callCount ?? "0"),
    groupDigits(totals?.inputTokens ?? "0"),
    groupDigits(totals?.outputTokens ?? "0"),
    usd(totals?.costUsd ?? "0"),
    groupDigits(totals?.unpricedCallCount ?? "0"),
  ];
}

export const stats: Command = {
  name: "stats",
  summary: "usage statistics: calls, successes, tokens, cost, durations",
  usage: "[--period <word>] [filters]",
  help: [
    ["--period <word>", "today, week, month, last_1h, last_24h, last_7d, last_30d, last_90d or all (default: the --from/--to range)"],
    ["--tz <zone>", "IANA time zone for today and month (default UTC)"],
    ...FILTER_HELP,
  ],
  options: { period: { type: "string" }, tz: { type: "string" }, ...FILTER_OPTIONS },
  async run({ values, json, connect }) {
    const response = await connect().getStats({
      filter: filterFromFlags(values),
      period: typeof values.period === "string" ? values.period : "",
      timeZone: typeof values.tz === "string" ? values.tz : "",
    });
    if (json) return printJson(response);
    const t = response.totals;
    const rows: Array<[string, string]> = [
      ["calls", groupDigits(t?.callCount ?? "0")],
      ["succeeded / failed / cancelled", `${response.succeededCallCount} / ${response.failedCallCount} / ${response.cancelledCallCount}`],
      ["success rate", `${response.successRatePercent}%`],
      ["input tokens", groupDigits(t?.inputTokens ?? "0")],
      ["  cache read / write", `${groupDigits(t?.cacheReadInputTokens ?? "0")} / ${groupDigits(t?.cacheWriteInputTokens ?? "0")}`],
      ["output tokens", groupDigits(t?.outputTokens ?? "0")],
      ["  reasoning", groupDigits(t?.reasoningOutputTokens ?? "0")],
      ["cost", usd(t?.costUsd ?? "0")],
      ["unpriced calls", groupDigits(t?.unpricedCallCount ?? "0")],
      ["call duration avg / p50 / p95", `${response.averageCallDurationMs} / ${response.p50CallDurationMs} / ${response.p95CallDurationMs} ms`],
      ["agent executions (failed)", `${response.agentExecutionCount} (${response.failedAgentExecutionCount})`],
      ["execution duration avg / p95", `${response.averageAgentExecutionDurationMs} / ${response.p95AgentExecutionDurationMs} ms`],
    ];
    const replica = readReplicaCell(response.readReplica);
    if (replica) rows.push(["read replica lag", replica]);
    console.log(table(["", ""], rows).split("\n").slice(2).join("\n"));
  },
};

/** The lag of the read replica that answered ("0 bytes of WAL, 0 s behind"); undefined when the primary answered. */
export function readReplicaCell(status: GetStatsResponse["readReplica"]): string | undefined {
  if (!status) return undefined;
  if (!status.standby) return "not a standby (lag not measured)";
  const lag = status.replayLag;
  const seconds = lag ? (Number(lag.seconds) + lag.nanos / 1e9).toFixed(3) : "unknown";
  return `${groupDigits(status.lagBytes)} bytes of WAL, ${seconds} s behind`;
}
