import { basename } from "node:path";
import {
  EventStatus,
  TimeWindow,
  type AggregateByPeriodResponse,
  type AggregateByTaskResponse,
  type CostTrackingClient,
} from "../../client/index.js";
import { countAzureTraceRows, readAzureTrace } from "./azure-trace.js";

export interface ReplayOptions {
  model: string;
  provider?: string;
  /** The task every call is recorded under; default `replay:<file name>:<model>`. */
  taskId?: string;
  /** How many calls are in flight at once. */
  concurrency?: number;
  onProgress?: (sent: number, total: number) => void;
}

export interface ReplayResult {
  sent: number;
  duplicates: number;
  taskId: string;
  /** What the server's AggregateByTask returns for the replayed task. */
  task: AggregateByTaskResponse;
  /** What the server's AggregateByPeriod returns per UTC hour for the replayed task. */
  hours: AggregateByPeriodResponse;
}

/**
 * Sends every row of an Azure trace as an API call of one model, then asks the server for the totals. Each row's
 * request id is derived from the file, row and model, so replaying a file again stores nothing new.
 */
export async function replayTrace(client: CostTrackingClient, path: string, options: ReplayOptions): Promise<ReplayResult> {
  const file = basename(path);
  const taskId = options.taskId ?? `replay:${file}:${options.model}`.replace(/[^A-Za-z0-9._:/@-]/g, "_").slice(0, 128);
  const total = await countAzureTraceRows(path);
  const concurrency = options.concurrency ?? 64;
  const inFlight = new Set<Promise<void>>();
  let sent = 0;
  let duplicates = 0;
  for await (const row of readAzureTrace(path)) {
    const call = client
      .trackApiCall({
        requestId: `replay:${file}:${row.row}:${options.model}`.replace(/[^A-Za-z0-9._:/@-]/g, "_").slice(0, 128),
        callTime: { seconds: row.seconds.toString(), nanos: row.nanos },
        taskId,
        model: options.model,
        provider: options.provider ?? "",
        operation: "replay",
        usage: { inputTokens: row.contextTokens.toString(), outputTokens: row.generatedTokens.toString() },
        status: EventStatus.EVENT_STATUS_SUCCEEDED,
      })
      .then((response) => {
        sent += 1;
        if (response.duplicate) duplicates += 1;
        options.onProgress?.(sent, total);
      });
    const tracked = call.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    if (inFlight.size >= concurrency) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const [task, hours] = await Promise.all([
    client.aggregateByTask({ taskId }),
    client.aggregateByPeriod({ filter: { taskId }, window: TimeWindow.TIME_WINDOW_HOUR, timeZone: "UTC" }),
  ]);
  return { sent, duplicates, taskId, task, hours };
}
