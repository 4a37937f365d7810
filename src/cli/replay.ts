// `npm run replay -- <trace.csv> --model <name> [--provider <p>] [--server host:port]`
// Replays an Azure LLM inference trace through the typed client and prints the totals the server returns. Without
// --server it starts the service in-process on the embedded database (DATA_DIR, default ./data).
import { parseArgs } from "node:util";
import { createCostTrackingClient, type CostTotals } from "../../client/index.js";
import { loadConfig } from "../config.js";
import { createLogger } from "../logger.js";
import { startService, type RunningService } from "../server.js";
import { replayTrace } from "./replay-trace.js";

const usage = "usage: npm run replay -- <trace.csv> --model <name> [--provider <p>] [--server host:port]";
let args;
try {
  args = parseArgs({
    allowPositionals: true,
    options: {
      model: { type: "string" },
      provider: { type: "string" },
      server: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
} catch (error) {
  console.error(`${(error as Error).message}\n${usage}`);
  process.exit(2);
}
if (args.values.help) {
  console.log(usage);
  process.exit(0);
}
const [file] = args.positionals;
if (!file || !args.values.model) {
  console.error(usage);
  process.exit(2);
}

let service: RunningService | undefined;
let address = args.values.server;
if (!address) {
  const config = { ...loadConfig(), listenAddress: "127.0.0.1:0" };
  service = await startService({ config, logger: createLogger("warn") });
  address = `127.0.0.1:${service.port}`;
  console.error(`started an in-process server on ${address} (${service.database.engine}, ${config.dataDir})`);
}

const client = createCostTrackingClient(address);
const started = Date.now();
let lastReport = 0;
try {
  const result = await replayTrace(client, file, {
    model: args.values.model,
    ...(args.values.provider ? { provider: args.values.provider } : {}),
    onProgress(sent, total) {
      if (Date.now() - lastReport < 500 && sent < total) return;
      lastReport = Date.now();
      const rate = Math.round(sent / Math.max((Date.now() - started) / 1000, 0.001));
      process.stderr.write(`\rstreamed ${sent.toLocaleString("en-US")} / ${total.toLocaleString("en-US")} calls (${rate}/s)   `);
    },
  });
  process.stderr.write("\n");
  const line = (label: string, t: CostTotals | undefined) =>
    `${label.padEnd(22)} calls ${t?.callCount ?? "0"}  input ${t?.inputTokens ?? "0"}  output ${t?.outputTokens ?? "0"}  cost $${t?.costUsd ?? "0"}`;
  console.log(`task ${result.taskId}: ${result.sent} sent, ${result.accepted} stored, ${result.duplicates} already recorded`);
  console.log(line("total", result.task.totals));
  for (const bucket of result.hours.buckets) console.log(line(bucket.label, bucket.totals));
} finally {
  client.close();
  await service?.close();
}
