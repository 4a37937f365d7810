import { basename } from "node:path";
import {
  EventStatus,
  TimeWindow,
  type AggregateByPeriodResponse,
  type AggregateByTaskResponse,
  type CostTrackingClient,
  type DeepPartial,
  type EventRecord,
} from "../../client/index.js";
import { countAzureTraceRows, readAzureTrace } from "./azure-trace.js";

export interface ReplayOptions {
  model: string;
  provider?: string;
  /** The task every call is recorded under; default `replay:<file name>:<model>`. */
  taskId?: string;
  /** Called as calls are handed to the stream (the server acknowledges them all at its end). */
  onProgress?: (sent: number, total: number) => void;
}

export interface ReplayResult {
  sent: number;
  /** Calls stored by this replay. */
  accepted: number;
  /** Calls the ledger already held (a file replayed again). */
  duplicates: number;
  /** Calls the server refused (none for a well-formed trace). */
  rejected: number;
  taskId: string;
  /** What the server's AggregateByTask returns for the replayed task. */
  task: AggregateByTaskResponse;
  /** What the server's AggregateByPeriod returns per UTC hour for the replayed task. */
  hours: AggregateByPeriodResponse;
}

/**
 * Streams every row of an Azure trace as an API call of one model (IngestEvents: the server writes while it reads,
 * in shared multi-row statements), then asks the server for the totals. Each row's request id is derived from the
 * file, row and model, so replaying a file again stores nothing new.
 */
export async function replayTrace(client: CostTrackingClient, path: string, options: ReplayOptions): Promise<ReplayResult> {
  const file = basename(path);
  const taskId = options.taskId ?? `replay:${file}:${options.model}`.replace(/[^A-Za-z0-9._:/@-]/g, "_").slice(0, 128);
  const total = await countAzureTraceRows(path);
  let sent = 0;
  async function* calls(): AsyncGenerator<DeepPartial<EventRecord>> {
    for await (const row of readAzureTrace(path)) {
      yield {
        apiCall: {
          requestId: `replay:${file}:${row.row}:${options.model}`.replace(/[^A-Za-z0-9._:/@-]/g, "_").slice(0, 128),
          callTime: { seconds: row.seconds.toString(), nanos: row.nanos },
          taskId,
          model: options.model,
          provider: options.provider ?? "",
          operation: "replay",
          usage: { inputTokens: row.contextTokens.toString(), outputTokens: row.generatedTokens.toString() },
          status: EventStatus.EVENT_STATUS_SUCCEEDED,
        },
      };
      sent += 1;
      options.onProgress?.(sent, total);
    }
  }
  const { summary } = await client.ingestEvents(calls());
  const rejected = Number(summary?.rejectedCount ?? 0);
  if (rejected > 0) {
    const first = summary!.rejectedEvents[0];
    throw new Error(`${rejected} calls were refused; the first, at row ${Number(first?.position) + 1}: ${first?.message}`);
  }
  const [task, hours] = await Promise.all([
    client.aggregateByTask({ taskId }),
    client.aggregateByPeriod({ filter: { taskId }, window: TimeWindow.TIME_WINDOW_HOUR, timeZone: "UTC" }),
  ]);
  return {
    sent,
    accepted: Number(summary?.acceptedCount ?? 0),
    duplicates: Number(summary?.duplicateCount ?? 0),
    rejected,
    taskId,
    task,
    hours,
  };
}
