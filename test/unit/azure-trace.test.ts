import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { countAzureTraceRows, readAzureTrace } from "../../src/cli/azure-trace.js";

const write = async (content: string) => {
  const path = join(await mkdtemp(join(tmpdir(), "trace-")), "t.csv");
  await writeFile(path, content);
  return path;
};

describe("readAzureTrace", () => {
  it("reads CRLF rows with 7 fractional digits and no final newline, as UTC", async () => {
    const path = await write("TIMESTAMP,ContextTokens,GeneratedTokens\r\n2023-11-16 18:15:46.6800000,374,44\r\n2023-11-16 18:15:50.9874110,396,109");
    const rows = [];
    for await (const row of readAzureTrace(path)) rows.push(row);
    expect(rows).toEqual([
      { row: 1, seconds: 1700158546n, nanos: 680_000_000, contextTokens: 374n, generatedTokens: 44n },
      { row: 2, seconds: 1700158550n, nanos: 987_411_000, contextTokens: 396n, generatedTokens: 109n },
    ]);
    expect(await countAzureTraceRows(path)).toBe(2);
  });

  it("names the line of a malformed row", async () => {
    const path = await write("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,1,2\nbad,row\n");
    await expect(async () => {
      for await (const _ of readAzureTrace(path));
    }).rejects.toThrow(/:3: not a trace row/);
  });

  it("reads the real conv trace: 19,366 rows", async () => {
    expect(await countAzureTraceRows("../shared/data/traces/Azure__AzurePublicDataset/data/AzureLLMInferenceTrace_conv.csv")).toBe(19366);
  });
});
