import { lsnValue, type CatchUp, type ReadReplica } from "../db/read-replica.js";

export interface ReplicaSyncOptions {
  /** How long a computation round waits for the replica before computing anyway (its lag then shows). */
  catchUpTimeoutMs: number;
  /** How often a replica that fell further behind than that is checked until it has caught up. */
  chaseIntervalMs: number;
  /** Called once the replica has replayed a position a round gave up waiting for: recompute everything. */
  onCaughtUp: () => void;
  onError: (error: unknown) => void;
}

/**
 * Keeps WatchStats snapshots computed on a read replica from being older than the change that woke them. The change
 * feed listens on the primary; when a notice arrives, the next computation round notes the primary's WAL position
 * and waits (bounded) until the replica has replayed it. One such check serves every computation of the same
 * round (the same notice epoch), however many topics and monitors there are.
 *
 * A round that gave up waiting computed from a replica that had not yet replayed the change, and no further notice
 * may come to correct it; so the position it waited for is then chased in the background, and `onCaughtUp` fires
 * once the replica reaches it.
 */
export class ReplicaSync {
  private round: { epoch: number; promise: Promise<CatchUp> } | undefined;
  private chased: bigint | undefined;
  private chaseTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Catch-up rounds started, how many are still waiting, and how many gave up (the replica lagged more than the bound). */
  readonly counts = { rounds: 0, waiting: 0, timedOut: 0 };

  constructor(
    private readonly replica: ReadReplica,
    private readonly options: ReplicaSyncOptions,
  ) {}

  /** A catch-up that covers every notice up to `epoch`: the current round's when it does, else a new round. */
  catchUp(epoch: number): Promise<CatchUp> {
    if (this.round && this.round.epoch >= epoch) return this.round.promise;
    this.counts.rounds++;
    this.counts.waiting++;
    const settled = this.replica.catchUp(this.options.catchUpTimeoutMs).finally(() => this.counts.waiting--);
    const promise = settled.then((result) => {
      if (!result.reached) {
        this.counts.timedOut++;
        this.chase(result.primaryLsn);
      }
      return result;
    });
    const round = { epoch, promise };
    this.round = round;
    promise.catch(() => {
      if (this.round === round) this.round = undefined;
    });
    return promise;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.chaseTimer);
  }

  private chase(lsn: string): void {
    const target = lsnValue(lsn);
    if (this.chased !== undefined && this.chased >= target) return;
    const first = this.chased === undefined;
    this.chased = target;
    if (first) this.scheduleChase();
  }

  private scheduleChase(): void {
    if (this.closed) return;
    this.chaseTimer = setTimeout(() => void this.checkChase(), this.options.chaseIntervalMs);
  }

  private async checkChase(): Promise<void> {
    const target = this.chased;
    if (this.closed || target === undefined) return;
    let reached = false;
    try {
      reached = await this.replica.hasReplayed(lsnText(target));
    } catch (error) {
      this.options.onError(error);
    }
    if (this.closed) return;
    if (!reached) return this.scheduleChase();
    // A round that gave up while this check ran raised the target: keep chasing that one.
    if (this.chased !== target) return this.scheduleChase();
    this.chased = undefined;
    this.options.onCaughtUp();
  }
}

function lsnText(value: bigint): string {
  return `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`;
}
