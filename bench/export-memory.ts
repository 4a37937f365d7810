// `npx tsx bench/export-memory.ts <address> <events>`: records <events> API calls into the server at <address>
// (request ids exp-mem:<n>, so running it again adds nothing), for measuring `costctl export` memory against
// the ledger's size (see docs/BENCHMARKS.md).
import { createCostTrackingClient, EventStatus, type DeepPartial, type EventRecord } from "../client/index.js";

const [address = "127.0.0.1:50051", countText = "100000"] = process.argv.slice(2);
const count = Number(countText);
const client = createCostTrackingClient(address);
function* events(): Generator<DeepPartial<EventRecord>> {
  for (let n = 0; n < count; n++) {
    yield {
      apiCall: {
        requestId: `exp-mem:${n}`,
        callTime: { seconds: String(1741500000 + Math.floor(n / 10)), nanos: (n % 10) * 1000 },
        model: "gpt-4o-mini",
        provider: "openai",
        taskId: `task-${n % 1000}`,
        operation: "draft",
        usage: { inputTokens: String(1000 + (n % 500)), outputTokens: String(100 + (n % 50)) },
        status: EventStatus.EVENT_STATUS_SUCCEEDED,
      },
    };
  }
}
const { summary } = await client.ingestEvents(events(), { eventsPerMessage: 500 });
console.log(`accepted ${summary?.acceptedCount}, duplicates ${summary?.duplicateCount}, rejected ${summary?.rejectedCount}`);
client.close();
