import type { CostTrackingServiceServer } from "../../gen/costtracking/v1/cost_tracking_service.js";
import type { Config } from "../config.js";
import type { DatabaseRoutes } from "../db/read-replica.js";
import type { CommittedEvents } from "../ledger/ledger.service.js";
import type { Logger } from "../logger.js";
import type { Clock } from "../time.js";
import { AggregationService } from "../aggregation/aggregation.service.js";
import { BudgetService } from "../budgets/budget.service.js";
import { Money } from "../money.js";
import type { BudgetSource } from "./budget.js";
import { openChangeFeed } from "./change-feed.js";
import { watchRpc } from "./watch.rpc.js";
import { WatchService } from "./watch.service.js";

/** The live-monitoring part of a server: its change feed, its watches and their RPC. */
export interface Streaming {
  /** The ledger's "events committed" hook: announces them to every replica. */
  readonly eventsCommitted: (events: CommittedEvents) => void;
  readonly watches: WatchService;
  readonly rpc: Pick<CostTrackingServiceServer, "watchStats">;
  /** Ends every watch stream (UNAVAILABLE) and stops listening. */
  close(): Promise<void>;
}

/**
 * The change feed listens (and announces) on the primary: a hot standby refuses LISTEN and does not replicate
 * NOTIFYs. The snapshots are computed on `routes.reads` (the read replica when configured), after waiting for it
 * to replay the change that woke them.
 */
export async function startStreaming(routes: DatabaseRoutes, config: Config, logger: Logger, clock: Clock): Promise<Streaming> {
  const feed = await openChangeFeed(routes.writes, logger);
  // Watches follow the budgets stored through SetBudget (or the $150 default of a scope without one).
  const stored = new BudgetService(routes.writes.db, routes.reads.db, new AggregationService(routes.reads.db, clock));
  const budgets: BudgetSource = {
    monthlyBudgetUsd: async (scope) =>
      new Money((await stored.budgetOf(scope.kind === "global" ? { kind: "global", id: "" } : scope)).budget.monthlyLimitUsd),
  };
  const watches = new WatchService(routes.reads.db, feed, {
    clock,
    stallMs: config.watchStallSeconds * 1000,
    budgets,
    ...(routes.replica
      ? {
          replica: routes.replica,
          onReplicaError: (error: unknown) => logger.warn("could not check the read replica's progress", { error: String(error) }),
        }
      : {}),
  });
  return {
    eventsCommitted: (events) => feed.publish(events),
    watches,
    rpc: watchRpc(watches, logger),
    async close() {
      watches.close();
      await feed.close();
    },
  };
}
