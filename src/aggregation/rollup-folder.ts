import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import type { Logger } from "../logger.js";
import { PeriodicTask } from "../periodic-task.js";
import { committedSeq, foldNextChunk } from "./rollup.repository.js";

/** How many ledger rows one fold transaction takes at most, so a backlog is folded in short transactions. */
export const FOLD_CHUNK_ROWS = 250_000n;

/**
 * Folds every committed ledger row into the rollups, in chunks; returns how many seq values the watermark moved
 * (0 when the rollups were up to date). Safe to run from several processes at once: they take turns.
 */
export async function foldRollups(db: Kysely<Database>, chunkRows: bigint = FOLD_CHUNK_ROWS): Promise<bigint> {
  let target: bigint;
  try {
    target = await committedSeq(db);
  } catch (error) {
    // 55P03 lock_not_available: a long insert transaction is open; fold next time rather than stall ingestion.
    if ((error as { code?: unknown }).code === "55P03") return 0n;
    throw error;
  }
  let moved = 0n;
  for (;;) {
    const folded = await foldNextChunk(db, target, chunkRows);
    if (folded === undefined) return moved;
    moved += folded;
  }
}

/**
 * Folds the rollups in the background every `intervalMs`. Answers never depend on it for correctness (queries add
 * the raw rows after the watermark); it only keeps that raw tail short, so queries stay fast.
 */
export class RollupFolder {
  private readonly task: PeriodicTask;

  constructor(
    private readonly db: Kysely<Database>,
    intervalMs: number,
    private readonly logger: Logger,
  ) {
    this.task = new PeriodicTask(() => this.foldOnce(), intervalMs);
  }

  start(): void {
    this.task.start();
  }

  /** Stops folding and waits for a fold in progress to end. */
  async stop(): Promise<void> {
    await this.task.stop();
  }

  private async foldOnce(): Promise<void> {
    try {
      const moved = await foldRollups(this.db);
      if (moved > 0n) this.logger.debug("rollups folded", { rows: moved.toString() });
    } catch (error) {
      this.logger.warn("rollup fold failed; retrying later", { error: error instanceof Error ? error.message : String(error) });
    }
  }
}
