import type { ServerWritableStream } from "@grpc/grpc-js";
import type { CostTrackingServiceServer } from "../../gen/costtracking/v1/cost_tracking_service.js";
import type { Duration } from "../../gen/google/protobuf/duration.js";
import {
  WatchBudgetLevel,
  WatchBudgetScope,
  WatchBudgetThreshold,
  WatchGroupBy,
  type WatchBudget,
  type WatchStatsRequest,
  type WatchStatsResponse,
} from "../../gen/costtracking/v1/watch.js";
import type { Dimension } from "../aggregation/event-filter.js";
import { periodFromProto, statsToProto } from "../aggregation/aggregation.rpc.js";
import { ServerShuttingDownError, Violations } from "../errors.js";
import type { Logger } from "../logger.js";
import { filterFromProto, instantToProto, timeZoneFromProto, totalsToProto } from "../rpc/convert.js";
import { logFailure } from "../rpc/handlers.js";
import { toGrpcError } from "../rpc/status.js";
import type { BudgetLevel, BudgetState, BudgetThreshold } from "./budget.js";
import { WATCH_LIMITS, type WatchQuery, type WatchRange, type WatchService, type WatchUpdate } from "./watch.service.js";

const GROUP_BY: Partial<Record<number, Dimension>> = {
  [WatchGroupBy.WATCH_GROUP_BY_PROVIDER]: "provider",
  [WatchGroupBy.WATCH_GROUP_BY_MODEL]: "model",
  [WatchGroupBy.WATCH_GROUP_BY_AGENT]: "agent",
  [WatchGroupBy.WATCH_GROUP_BY_USER]: "user",
  [WatchGroupBy.WATCH_GROUP_BY_TASK]: "task",
  [WatchGroupBy.WATCH_GROUP_BY_OPERATION]: "operation",
};

/** A Duration in milliseconds; undefined when absent. Negative or malformed durations are violations. */
function millisFromProto(duration: Duration | undefined, field: string, violations: Violations): number | undefined {
  if (!duration) return undefined;
  const seconds = /^-?\d+$/.test(duration.seconds) ? Number(duration.seconds) : NaN;
  const ms = seconds * 1000 + duration.nanos / 1e6;
  if (!Number.isFinite(ms) || seconds < 0 || duration.nanos < 0 || duration.nanos > 999_999_999) {
    violations.add(field, "must be a duration of zero or more with nanos from 0 to 999,999,999");
    return undefined;
  }
  return ms;
}

/** A duration setting: empty is the default, below the floor is raised to it, above the maximum is refused. */
function interval(ms: number | undefined, field: string, limits: [def: number, floor: number, max: number], violations: Violations): number {
  const [def, floor, max] = limits;
  if (ms === undefined || ms === 0) return def;
  if (ms > max) violations.add(field, `must be at most ${max / 1000} s`);
  return Math.max(floor, Math.min(ms, max));
}

/** Validates a WatchStats request into a query, naming every wrong field. */
export function watchQueryFromProto(request: WatchStatsRequest): WatchQuery {
  const violations = new Violations();
  const filter = filterFromProto(request.filter, "filter", violations);
  const period = periodFromProto(request.period, "period", violations);
  const windowMs = millisFromProto(request.window, "window", violations);
  const timeZone = timeZoneFromProto(request.timeZone, "time_zone", violations);

  let range: WatchRange = { kind: "filter" };
  if (period && windowMs !== undefined) violations.add("window", "must be empty when period is set");
  if (period) range = { kind: "period", period };
  else if (windowMs !== undefined) {
    if (windowMs < 1000 || windowMs > WATCH_LIMITS.maxWindowSeconds * 1000) {
      violations.add("window", `must be from 1 s to ${WATCH_LIMITS.maxWindowSeconds} s (366 days)`);
    }
    range = { kind: "rolling", seconds: windowMs / 1000 };
  }
  if (range.kind !== "filter") {
    if (filter.startTime) violations.add("filter.start_time", "must be empty when period or window is set");
    if (filter.endTime) violations.add("filter.end_time", "must be empty when period or window is set");
  }

  const groupBy = request.groupBy === WatchGroupBy.WATCH_GROUP_BY_UNSPECIFIED ? undefined : GROUP_BY[request.groupBy];
  if (request.groupBy !== WatchGroupBy.WATCH_GROUP_BY_UNSPECIFIED && !groupBy) {
    violations.add("group_by", `unknown dimension ${request.groupBy}`);
  }
  if (request.groupLimit < 0 || request.groupLimit > WATCH_LIMITS.maxGroupLimit) {
    violations.add("group_limit", `must be from 1 to ${WATCH_LIMITS.maxGroupLimit} (0: ${WATCH_LIMITS.defaultGroupLimit})`);
  }
  const minIntervalMs = interval(
    millisFromProto(request.minInterval, "min_interval", violations),
    "min_interval",
    [WATCH_LIMITS.defaultMinIntervalMs, WATCH_LIMITS.minIntervalFloorMs, WATCH_LIMITS.maxMinIntervalMs],
    violations,
  );
  const heartbeatMs = interval(
    millisFromProto(request.heartbeatInterval, "heartbeat_interval", violations),
    "heartbeat_interval",
    [WATCH_LIMITS.defaultHeartbeatMs, WATCH_LIMITS.heartbeatFloorMs, WATCH_LIMITS.maxHeartbeatMs],
    violations,
  );
  violations.throwIfAny();
  return {
    filter,
    range,
    timeZone,
    groupBy,
    groupLimit: request.groupLimit || WATCH_LIMITS.defaultGroupLimit,
    minIntervalMs,
    heartbeatMs,
  };
}

const SCOPE_TO_PROTO = {
  global: WatchBudgetScope.WATCH_BUDGET_SCOPE_GLOBAL,
  user: WatchBudgetScope.WATCH_BUDGET_SCOPE_USER,
  agent: WatchBudgetScope.WATCH_BUDGET_SCOPE_AGENT,
} as const;
const LEVEL_TO_PROTO: Record<BudgetLevel, WatchBudgetLevel> = {
  healthy: WatchBudgetLevel.WATCH_BUDGET_LEVEL_HEALTHY,
  warning: WatchBudgetLevel.WATCH_BUDGET_LEVEL_WARNING,
  critical: WatchBudgetLevel.WATCH_BUDGET_LEVEL_CRITICAL,
};
const THRESHOLD_TO_PROTO: Record<BudgetThreshold, WatchBudgetThreshold> = {
  "80": WatchBudgetThreshold.WATCH_BUDGET_THRESHOLD_80_PERCENT,
  "90": WatchBudgetThreshold.WATCH_BUDGET_THRESHOLD_90_PERCENT,
  "100": WatchBudgetThreshold.WATCH_BUDGET_THRESHOLD_100_PERCENT,
  projection: WatchBudgetThreshold.WATCH_BUDGET_THRESHOLD_PROJECTION,
};

function budgetToProto(state: BudgetState): WatchBudget {
  return {
    scope: SCOPE_TO_PROTO[state.scope.kind],
    scopeId: state.scope.kind === "global" ? "" : state.scope.id,
    monthlyBudgetUsd: state.monthlyBudgetUsd,
    spentUsd: state.spentUsd,
    percentUsed: state.percentUsed,
    projectedMonthEndUsd: state.projectedMonthEndUsd,
    level: LEVEL_TO_PROTO[state.level],
    projectionWarning: state.projectionWarning,
    monthStartTime: instantToProto(state.monthStart),
  };
}

export function updateToProto(update: WatchUpdate): WatchStatsResponse {
  switch (update.kind) {
    case "snapshot": {
      const s = update.snapshot;
      return {
        snapshot: {
          sequence: String(s.sequence),
          snapshotTime: instantToProto(s.snapshotTime),
          ...(s.stats.startTime ? { startTime: instantToProto(s.stats.startTime) } : {}),
          ...(s.stats.endTime ? { endTime: instantToProto(s.stats.endTime) } : {}),
          stats: statsToProto(s.stats, s.readReplica),
          groups: s.groups.map((g) => ({ key: g.key, totals: totalsToProto(g.totals) })),
          omittedGroupCount: String(s.omittedGroupCount),
          budget: budgetToProto(s.budget),
        },
      };
    }
    case "heartbeat":
      return { heartbeat: { serverTime: instantToProto(update.time) } };
    case "budgetAlert":
      return {
        budgetAlert: {
          threshold: THRESHOLD_TO_PROTO[update.alert.threshold],
          budget: budgetToProto(update.alert.state),
          message: update.alert.message,
        },
      };
  }
}

/**
 * The WatchStats handler: adapts a grpc-js server stream to a watch. write() returning false is the transport's
 * "buffer full" (the watch then sends nothing until 'drain'); a cancelled call closes the watch.
 */
export function watchRpc(watches: WatchService, logger: Logger): Pick<CostTrackingServiceServer, "watchStats"> {
  return {
    watchStats(call: ServerWritableStream<WatchStatsRequest, WatchStatsResponse>) {
      const started = performance.now();
      const fail = (thrown: unknown) => {
        const error = toGrpcError(thrown);
        // A shutdown ends every stream on purpose: not a failure worth a log line each.
        if (thrown instanceof ServerShuttingDownError) logger.debug("request", { method: "WatchStats", code: error.code });
        else logFailure(logger, "WatchStats", error.code, thrown, performance.now() - started);
        if (!call.cancelled) call.emit("error", error);
      };
      let query: WatchQuery;
      try {
        query = watchQueryFromProto(call.request);
      } catch (thrown) {
        fail(thrown);
        return;
      }
      logger.debug("request", { method: "WatchStats", code: "STREAMING" });
      const watch = watches.open(query, {
        send: (update) => call.write(updateToProto(update)),
        end: fail,
      });
      call.on("drain", () => watch.drained());
      call.on("cancelled", () => watch.close());
      call.on("close", () => watch.close());
    },
  };
}
