import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";

/** One row of an Azure LLM inference trace (Azure/AzurePublicDataset, AzureLLMInferenceTrace_*.csv). */
export interface AzureTraceRow {
  /** 1-based data row number (the header is row 0), stable across runs: used for idempotency keys. */
  row: number;
  /** The invocation time, read as UTC: epoch seconds and nanoseconds (the file has 100 ns resolution). */
  seconds: bigint;
  nanos: number;
  contextTokens: bigint;
  generatedTokens: bigint;
}

const HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens";
const ROW = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?,(\d+),(\d+)$/;

/**
 * Reads an Azure trace as a stream: CRLF or LF line endings, no final newline needed, timestamps
 * "YYYY-MM-DD HH:MM:SS.fffffff" with up to 9 fractional digits and no zone (UTC). A malformed row throws with its
 * line number, so a bad file never half-imports silently.
 */
export async function* readAzureTrace(path: string): AsyncGenerator<AzureTraceRow> {
  const lines = createInterface({ input: createReadStream(path, "utf8"), crlfDelay: Infinity });
  let lineNumber = 0;
  for await (const raw of lines) {
    lineNumber += 1;
    const line = raw.replace(/\r$/, "");
    if (lineNumber === 1) {
      if (line.replace(/^\uFEFF/, "") !== HEADER) throw new Error(`${path}:1: expected header "${HEADER}", got "${line}"`);
      continue;
    }
    if (line === "") continue;
    const match = ROW.exec(line);
    if (!match) throw new Error(`${path}:${lineNumber}: not a trace row: "${line}"`);
    const [, date, time, fraction = "", context, generated] = match;
    yield {
      row: lineNumber - 1,
      seconds: BigInt(Date.parse(`${date}T${time}Z`) / 1000),
      nanos: Number(fraction.padEnd(9, "0")),
      contextTokens: BigInt(context!),
      generatedTokens: BigInt(generated!),
    };
  }
}

/** Counts the data rows of a trace (for progress), without parsing them. */
export async function countAzureTraceRows(path: string): Promise<number> {
  let rows = -1;
  for await (const line of createInterface({ input: createReadStream(path, "utf8"), crlfDelay: Infinity })) {
    if (line.trim() !== "") rows += 1;
  }
  return Math.max(rows, 0);
}
