import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import type { Logger } from "../logger.js";
import { PeriodicTask } from "../periodic-task.js";
import type { Clock } from "../time.js";
import {
  addMonths,
  createPartitions,
  applyRetention,
  monthOf,
  MONTHS_AHEAD,
  retentionHorizon,
  type Month,
  type RetentionReport,
} from "./partitions.js";

/** How often the service looks after its partitions: hourly is plenty for monthly partitions. */
export const MAINTENANCE_INTERVAL_MS = 3_600_000;

/**
 * A month is dropped one day after it passes the retention horizon. An event accepted just before the horizon
 * moved is then long written before its month goes, so a write never meets a partition dropped under it.
 */
const DROP_GRACE_MS = 86_400_000;

export interface LedgerMaintenanceOptions {
  /** LEDGER_RETENTION_MONTHS; 0 keeps every month. */
  retentionMonths: number;
  clock: Clock;
  logger: Logger;
  intervalMs?: number;
}

/**
 * Keeps the ledger's partitions: this month and the next MONTHS_AHEAD exist before their first event, and, with a
 * retention horizon, months past it are dropped (src/ledger/partitions.ts). Every server process runs it; passes
 * from several processes take turns on the database, so any number of replicas may share one ledger.
 */
export class LedgerMaintenance {
  private readonly task: PeriodicTask;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly options: LedgerMaintenanceOptions,
  ) {
    this.task = new PeriodicTask(() => this.runLogged(), options.intervalMs ?? MAINTENANCE_INTERVAL_MS);
  }

  /** Creates the partitions of this month and the next MONTHS_AHEAD (quick: done before the server serves). */
  async createMonthsAhead(): Promise<void> {
    const current = monthOf(this.options.clock.now().toISOString());
    const ahead: Month[] = [];
    for (let offset = 0; offset <= MONTHS_AHEAD; offset++) ahead.push(addMonths(current, offset));
    await createPartitions(this.db, ahead);
  }

  /** One pass: creates the months ahead, then applies retention. Returns what retention dropped. */
  async runOnce(): Promise<RetentionReport> {
    await this.createMonthsAhead();
    const now = this.options.clock.now();
    if (this.options.retentionMonths === 0) return { droppedMonths: [], deferredMonths: [] };
    const horizon = retentionHorizon(new Date(now.getTime() - DROP_GRACE_MS), this.options.retentionMonths);
    const report = await applyRetention(this.db, horizon);
    if (report.droppedMonths.length > 0 || report.deferredMonths.length > 0) {
      this.options.logger.info("ledger retention", { horizon, dropped: report.droppedMonths, deferred: report.deferredMonths });
    }
    return report;
  }

  /** Runs a pass now, in the background (retention may take a while), and then every interval. */
  start(): void {
    this.task.start();
  }

  /** Stops the timer and waits for a pass in progress to end. */
  async stop(): Promise<void> {
    await this.task.stop();
  }

  private async runLogged(): Promise<void> {
    try {
      await this.runOnce();
    } catch (error) {
      this.options.logger.warn("ledger maintenance failed; retrying later", {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
}
