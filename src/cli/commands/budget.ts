import { BudgetScopeKind, BudgetStatusLevel, type BudgetScope } from "../../../client/index.js";
import { requireFlag, UsageError, type Command, type CommandContext } from "../command.js";
import { printJson, table, usd } from "../output.js";

/** The scope from --user or --agent; neither is the global budget. */
function scopeFromFlags(values: CommandContext["values"]): BudgetScope {
  if (typeof values.user === "string" && typeof values.agent === "string") throw new UsageError("give --user or --agent, not both");
  if (typeof values.user === "string") return { kind: BudgetScopeKind.BUDGET_SCOPE_KIND_USER, id: values.user };
  if (typeof values.agent === "string") return { kind: BudgetScopeKind.BUDGET_SCOPE_KIND_AGENT, id: values.agent };
  return { kind: BudgetScopeKind.BUDGET_SCOPE_KIND_GLOBAL, id: "" };
}

function scopeName(scope: BudgetScope | undefined): string {
  switch (scope?.kind) {
    case BudgetScopeKind.BUDGET_SCOPE_KIND_USER:
      return `user ${scope.id}`;
    case BudgetScopeKind.BUDGET_SCOPE_KIND_AGENT:
      return `agent ${scope.id}`;
    default:
      return "global";
  }
}

const LEVEL: Record<number, string> = {
  [BudgetStatusLevel.BUDGET_STATUS_LEVEL_HEALTHY]: "healthy",
  [BudgetStatusLevel.BUDGET_STATUS_LEVEL_WARNING]: "warning",
  [BudgetStatusLevel.BUDGET_STATUS_LEVEL_CRITICAL]: "critical",
};

export const budget: Command = {
  name: "budget",
  summary: "monthly budgets: status (default), set, list, delete",
  usage: "[status|set|list|delete] [--user <id> | --agent <id>] [--limit <usd>] [--tz <zone>]",
  help: [
    ["status", "spent, remaining, projection and alerts of a budget this month (default)"],
    ["set --limit <usd>", "set the monthly limit (exact decimal), with --tz for the month's boundaries"],
    ["list", "every budget"],
    ["delete", "remove a budget"],
    ["--user, --agent <id>", "the budget of a user or agent (default: the global budget)"],
  ],
  options: { user: { type: "string" }, agent: { type: "string" }, limit: { type: "string" }, tz: { type: "string" } },
  async run({ values, positionals, json, connect }) {
    const action = positionals[0] ?? "status";
    const client = connect();
    if (action === "list") {
      const r = await client.listBudgets();
      if (json) return printJson(r);
      console.log(table(["scope", "monthly limit", "time zone"], r.budgets.map((b) => [scopeName(b.scope), usd(b.monthlyLimitUsd), b.timeZone])));
      return;
    }
    const scope = scopeFromFlags(values);
    if (action === "set") {
      const r = await client.setBudget({ scope, monthlyLimitUsd: requireFlag(values, "limit"), timeZone: typeof values.tz === "string" ? values.tz : "" });
      if (json) return printJson(r);
      console.log(`budget of ${scopeName(scope)} set to ${usd(requireFlag(values, "limit"))} a month`);
      return;
    }
    if (action === "delete") {
      const r = await client.deleteBudget({ scope });
      if (json) return printJson(r);
      console.log(r.deleted ? `budget of ${scopeName(scope)} deleted` : `${scopeName(scope)} had no budget`);
      return;
    }
    if (action !== "status") throw new UsageError("usage: costctl budget [status|set|list|delete]; costctl budget --help");
    const r = await client.getBudgetStatus({ scope });
    if (json) return printJson(r);
    const rows: Array<[string, string]> = [
      ["budget", `${scopeName(scope)}: ${usd(r.budget?.monthlyLimitUsd)} a month${r.defaultBudget ? " (the default)" : ""}`],
      ["status", LEVEL[r.status] ?? "unknown"],
      ["spent", `${usd(r.spentUsd)} (${r.percentUsed}%)`],
      ["remaining", usd(r.remainingUsd)],
      ["days elapsed / remaining", `${r.daysElapsed} / ${r.daysRemaining}`],
      ["daily burn rate", usd(r.dailyBurnRateUsd)],
      ["projected month end", `${usd(r.projectedMonthEndUsd)}${r.projectedOverBudget ? " (over budget)" : ""}`],
    ];
    console.log(table(["", ""], rows).split("\n").slice(2).join("\n"));
    for (const alert of r.alerts) console.log(`alert (${LEVEL[alert.level] ?? "?"}): ${alert.message}`);
  },
};
