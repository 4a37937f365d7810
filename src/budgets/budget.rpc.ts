import {
  BudgetScopeKind,
  BudgetStatusLevel,
  type Budget as ProtoBudget,
  type BudgetScope as ProtoBudgetScope,
  type DeleteBudgetRequest,
  type DeleteBudgetResponse,
  type GetBudgetStatusRequest,
  type GetBudgetStatusResponse,
  type ListBudgetsResponse,
  type SetBudgetRequest,
  type SetBudgetResponse,
} from "../../gen/costtracking/v1/budget.js";
import type { CostTrackingServiceServer } from "../../gen/costtracking/v1/cost_tracking_service.js";
import { Violations } from "../errors.js";
import type { Logger } from "../logger.js";
import { parseMoney } from "../money.js";
import { instantToProto, timeZoneFromProto } from "../rpc/convert.js";
import { unary } from "../rpc/handlers.js";
import { identifier } from "../validation.js";
import type { Budget, BudgetScope } from "./budget.js";
import type { BudgetLevel, BudgetService } from "./budget.service.js";

const KIND_FROM_PROTO: Partial<Record<number, BudgetScope["kind"]>> = {
  [BudgetScopeKind.BUDGET_SCOPE_KIND_GLOBAL]: "global",
  [BudgetScopeKind.BUDGET_SCOPE_KIND_USER]: "user",
  [BudgetScopeKind.BUDGET_SCOPE_KIND_AGENT]: "agent",
};
const KIND_TO_PROTO: Record<BudgetScope["kind"], BudgetScopeKind> = {
  global: BudgetScopeKind.BUDGET_SCOPE_KIND_GLOBAL,
  user: BudgetScopeKind.BUDGET_SCOPE_KIND_USER,
  agent: BudgetScopeKind.BUDGET_SCOPE_KIND_AGENT,
};
const LEVEL_TO_PROTO: Record<BudgetLevel, BudgetStatusLevel> = {
  healthy: BudgetStatusLevel.BUDGET_STATUS_LEVEL_HEALTHY,
  warning: BudgetStatusLevel.BUDGET_STATUS_LEVEL_WARNING,
  critical: BudgetStatusLevel.BUDGET_STATUS_LEVEL_CRITICAL,
};

/** The largest monthly budget accepted, in USD. */
const MAX_MONTHLY_LIMIT = "1000000000";

/** A scope; `required` false lets an absent scope mean the global one. */
function scopeFromProto(scope: ProtoBudgetScope | undefined, field: string, violations: Violations, required: boolean): BudgetScope {
  if (!scope || (scope.kind === 0 && scope.id === "")) {
    if (required) violations.add(`${field}.kind`, "is required");
    return { kind: "global", id: "" };
  }
  const kind = KIND_FROM_PROTO[scope.kind];
  if (!kind) {
    violations.add(`${field}.kind`, scope.kind === 0 ? "is required" : `unknown scope kind ${scope.kind}`);
    return { kind: "global", id: "" };
  }
  if (kind === "global") {
    if (scope.id !== "") violations.add(`${field}.id`, "must be empty for the global scope");
    return { kind, id: "" };
  }
  return { kind, id: identifier(scope.id, `${field}.id`, violations, true) ?? "" };
}

function budgetToProto(budget: Budget): ProtoBudget {
  return {
    scope: { kind: KIND_TO_PROTO[budget.scope.kind], id: budget.scope.id },
    monthlyLimitUsd: budget.monthlyLimitUsd,
    timeZone: budget.timeZone,
    ...(budget.updatedAt ? { updateTime: instantToProto(budget.updatedAt) } : {}),
  };
}

export function budgetRpc(
  budgets: BudgetService,
  logger: Logger,
): Pick<CostTrackingServiceServer, "setBudget" | "listBudgets" | "deleteBudget" | "getBudgetStatus"> {
  return {
    setBudget: unary("SetBudget", logger, async (request: SetBudgetRequest): Promise<SetBudgetResponse> => {
      const violations = new Violations();
      const scope = scopeFromProto(request.scope, "scope", violations, true);
      const limit = parseMoney(request.monthlyLimitUsd);
      if (!limit || limit.isZero() || limit.greaterThan(MAX_MONTHLY_LIMIT)) {
        violations.add(
          "monthly_limit_usd",
          `must be a decimal number of USD greater than 0 and at most ${MAX_MONTHLY_LIMIT}, got "${request.monthlyLimitUsd}"`,
        );
      }
      const timeZone = timeZoneFromProto(request.timeZone, "time_zone", violations);
      violations.throwIfAny();
      return { budget: budgetToProto(await budgets.setBudget(scope, limit!.toFixed(), timeZone)) };
    }),

    listBudgets: unary("ListBudgets", logger, async (): Promise<ListBudgetsResponse> => {
      return { budgets: (await budgets.listBudgets()).map(budgetToProto) };
    }),

    deleteBudget: unary("DeleteBudget", logger, async (request: DeleteBudgetRequest): Promise<DeleteBudgetResponse> => {
      const violations = new Violations();
      const scope = scopeFromProto(request.scope, "scope", violations, true);
      violations.throwIfAny();
      return { deleted: await budgets.deleteBudget(scope) };
    }),

    getBudgetStatus: unary("GetBudgetStatus", logger, async (request: GetBudgetStatusRequest): Promise<GetBudgetStatusResponse> => {
      const violations = new Violations();
      const scope = scopeFromProto(request.scope, "scope", violations, false);
      violations.throwIfAny();
      const s = await budgets.getBudgetStatus(scope);
      return {
        budget: budgetToProto(s.budget),
        defaultBudget: s.defaultBudget,
        spentUsd: s.spentUsd,
        remainingUsd: s.remainingUsd,
        overspentUsd: s.overspentUsd,
        percentUsed: s.percentUsed,
        percentUsedCapped: s.percentUsedCapped,
        daysInMonth: s.daysInMonth,
        daysElapsed: s.daysElapsed,
        daysRemaining: s.daysRemaining,
        dailyBurnRateUsd: s.dailyBurnRateUsd,
        projectedMonthEndUsd: s.projectedMonthEndUsd,
        projectedOverBudget: s.projectedOverBudget,
        status: LEVEL_TO_PROTO[s.status],
        alerts: s.alerts.map((a) => ({
          level: LEVEL_TO_PROTO[a.level],
          message: a.message,
          thresholdPercent: a.thresholdPercent,
          currentPercent: a.currentPercent,
          projection: a.projection,
        })),
        monthStartTime: instantToProto(s.monthStart),
        asOfTime: instantToProto(s.asOf),
      };
    }),
  };
}
