import type {
  CostTrackingClient,
  CostTrackingError,
  DeepPartial,
  WatchBudgetAlert,
  WatchOptions,
  WatchSnapshot,
  WatchStatsRequest,
} from "../../client/index.js";

/** A monitor reading a WatchStats stream through the typed client in the background, recording what it got. */
export class Monitor {
  readonly snapshots: WatchSnapshot[] = [];
  readonly alerts: WatchBudgetAlert[] = [];
  /** Every message kind in arrival order: "snapshot", "heartbeat" or "alert". */
  readonly kinds: string[] = [];
  heartbeats = 0;
  reconnects = 0;
  error: CostTrackingError | undefined;
  done = false;
  /** performance.now() when the stream was opened, and when the latest snapshot arrived. */
  readonly openedAt = performance.now();
  lastSnapshotAt = 0;
  private readonly abort = new AbortController();
  private readonly task: Promise<void>;

  constructor(client: CostTrackingClient, request: DeepPartial<WatchStatsRequest>, options: WatchOptions = {}) {
    this.task = (async () => {
      try {
        const stream = client.watchStats(request, {
          ...options,
          signal: this.abort.signal,
          onReconnect: () => this.reconnects++,
        });
        for await (const message of stream) {
          if (message.snapshot) {
            this.snapshots.push(message.snapshot);
            this.lastSnapshotAt = performance.now();
            this.kinds.push("snapshot");
          } else if (message.heartbeat) {
            this.heartbeats++;
            this.kinds.push("heartbeat");
          } else if (message.budgetAlert) {
            this.alerts.push(message.budgetAlert);
            this.kinds.push("alert");
          }
        }
      } catch (error) {
        this.error = error as CostTrackingError;
      } finally {
        this.done = true;
      }
    })();
  }

  get latest(): WatchSnapshot | undefined {
    return this.snapshots.at(-1);
  }

  /** Waits until the condition holds (polling the recorded stream); fails with the last state after the timeout. */
  async until(condition: (monitor: this) => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!condition(this)) {
      if (this.done && !condition(this)) throw new Error(`stream ended (${String(this.error)}) before: ${what}`);
      if (performance.now() > deadline) {
        throw new Error(`timed out waiting for: ${what}; latest snapshot ${JSON.stringify(this.latest?.stats?.totals)}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.task;
  }
}

/** Waits until a condition holds, polling. */
export async function eventually(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
