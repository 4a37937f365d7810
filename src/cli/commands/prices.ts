import { readFile } from "node:fs/promises";
import { RateUnit, type CostTrackingClient, type ModelPrice, type PriceRates } from "../../../client/index.js";
import { parseLiteLlmEntry } from "../../pricing/litellm-import.js";
import type { NewPriceVersion } from "../../pricing/price-catalog.service.js";
import { epochOfInstant, instantFromDate } from "../../time.js";
import { requireFlag, timeFlag, UsageError, type Command, type CommandContext } from "../command.js";
import { isoMicros } from "../event-export.js";
import { printJson, table } from "../output.js";

const UNITS: Record<string, RateUnit> = {
  token: RateUnit.RATE_UNIT_PER_TOKEN,
  thousand: RateUnit.RATE_UNIT_PER_THOUSAND_TOKENS,
  million: RateUnit.RATE_UNIT_PER_MILLION_TOKENS,
};

const rate = (r: PriceRates | undefined, field: keyof PriceRates) => r?.[field] || "-";

async function allPrices(client: CostTrackingClient, model: string, provider: string): Promise<ModelPrice[]> {
  const prices: ModelPrice[] = [];
  let pageToken = "";
  do {
    const page = await client.listModelPrices({ pageSize: 500, pageToken, model, provider });
    prices.push(...page.modelPrices);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return prices;
}

async function list({ values, json, connect }: CommandContext): Promise<void> {
  const text = (name: string) => (typeof values[name] === "string" ? (values[name] as string) : "");
  const prices = await allPrices(connect(), text("model"), text("provider"));
  if (json) return printJson({ modelPrices: prices });
  console.log(
    table(
      ["model", "provider", "in force from", "input", "cache read", "cache write", "output", "reasoning", "source"],
      prices.map((p) => {
        const r = p.ratesUsdPerMillionTokens;
        return [p.model, p.provider, isoMicros(p.effectiveTime).slice(0, 19) + "Z", rate(r, "input"), rate(r, "cacheReadInput"), rate(r, "cacheWriteInput"), rate(r, "output"), rate(r, "reasoningOutput"), p.source];
      }),
    ),
  );
  console.log(`\n${prices.length} price versions; rates in USD per million tokens ("-": the input or output rate applies)`);
}

async function set({ values, json, connect }: CommandContext): Promise<void> {
  const unitWord = typeof values.unit === "string" ? values.unit : "million";
  const unit = UNITS[unitWord];
  if (unit === undefined) throw new UsageError(`--unit must be one of ${Object.keys(UNITS).join(", ")}`);
  const text = (name: string) => (typeof values[name] === "string" ? (values[name] as string) : "");
  const response = await connect().upsertModelPrice({
    model: requireFlag(values, "model"),
    provider: requireFlag(values, "provider"),
    effectiveTime: timeFlag(values, "effective"),
    rateUnit: unit,
    rates: { input: requireFlag(values, "input"), output: requireFlag(values, "output"), cacheReadInput: text("cache-read"), cacheWriteInput: text("cache-write"), reasoningOutput: text("reasoning") },
    source: text("source") || "costctl",
    notes: text("notes"),
  });
  if (json) return printJson(response);
  const p = response.modelPrice;
  const r = p?.ratesUsdPerMillionTokens;
  console.log(
    `${response.created ? "added" : "unchanged (an equal version is in force)"}: ${p?.provider}/${p?.model} from ${isoMicros(p?.effectiveTime)}: input $${rate(r, "input")}, output $${rate(r, "output")} per million tokens`,
  );
}

/**
 * LiteLLM's price map, read here and sent entry by entry through UpsertModelPrice (rather than written to the
 * database directly as `npm run prices:import` does): it works against any server, under its access control, and
 * the running server sees the prices at once. The same parser decides what is taken and what is skipped.
 */
async function importLiteLlm({ values, positionals, json, connect }: CommandContext): Promise<void> {
  const file = positionals[1];
  if (!file) throw new UsageError("usage: costctl prices import <model_prices.json> [--effective <time>]");
  const effective = timeFlag(values, "effective");
  const effectiveFrom = instantFromDate(effective ? new Date(Number(effective.seconds) * 1000 + effective.nanos / 1e6) : new Date());
  const map = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
  const client = connect();
  const report = { added: 0, unchanged: 0, skipped: [] as Array<{ key: string; reason: string }> };
  const versions: NewPriceVersion[] = [];
  for (const [key, entry] of Object.entries(map)) {
    const parsed = parseLiteLlmEntry(key, entry, effectiveFrom);
    if ("skipped" in parsed) report.skipped.push({ key, reason: parsed.skipped });
    else versions.push(parsed.version);
  }
  const money = (m: { toFixed(): string } | undefined) => (m === undefined ? "" : m.toFixed());
  const time = epochOfInstant(effectiveFrom);
  let next = 0;
  const worker = async () => {
    while (next < versions.length) {
      const v = versions[next++]!;
      const response = await client.upsertModelPrice({
        model: v.model,
        provider: v.provider,
        effectiveTime: { seconds: time.seconds.toString(), nanos: time.nanos },
        rateUnit: RateUnit.RATE_UNIT_PER_MILLION_TOKENS,
        rates: { input: money(v.inputPerMillion), output: money(v.outputPerMillion), cacheReadInput: money(v.cacheReadInputPerMillion), cacheWriteInput: money(v.cacheWriteInputPerMillion), reasoningOutput: money(v.reasoningOutputPerMillion) },
        ...(v.tier
          ? {
              tierThresholdInputTokens: v.tier.thresholdInputTokens.toString(),
              tierRates: { input: money(v.tier.inputPerMillion), output: money(v.tier.outputPerMillion), cacheReadInput: money(v.tier.cacheReadInputPerMillion), cacheWriteInput: money(v.tier.cacheWriteInputPerMillion), reasoningOutput: money(v.tier.reasoningOutputPerMillion) },
            }
          : {}),
        source: v.source,
        notes: v.notes ?? "",
      });
      if (response.created) report.added += 1;
      else report.unchanged += 1;
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  if (json) return printJson(report);
  console.log(`${file}: added ${report.added} price versions, unchanged ${report.unchanged}, skipped ${report.skipped.length}`);
  const byReason = new Map<string, number>();
  for (const { reason } of report.skipped) byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
  for (const [reason, n] of [...byReason].sort((a, b) => b[1] - a[1])) console.log(`  skipped ${String(n).padStart(5)}  ${reason}`);
}

export const prices: Command = {
  name: "prices",
  summary: "the price catalog: list, set one price, import LiteLLM's price map",
  usage: "list [--model <m>] [--provider <p>]  |  set --model <m> --provider <p> --input <rate> --output <rate> [--unit token|thousand|million]  |  import <model_prices.json>",
  help: [
    ["list", "every price version (all pages), optionally of one model or provider"],
    ["set", "add a price version (nothing when an equal one is in force)"],
    ["--input, --output <rate>", "USD per --unit tokens, exact decimals"],
    ["--cache-read, --cache-write, --reasoning <rate>", "optional rates (default: the input or output rate)"],
    ["--unit <token|thousand|million>", "the unit of the rates (default million)"],
    ["--effective <time>", "set/import: in force from this time (default now)"],
    ["--source, --notes <text>", "set: where the price comes from"],
    ["import <model_prices.json>", "LiteLLM's map, sent through the server entry by entry; prints added, unchanged, skipped"],
  ],
  options: {
    model: { type: "string" },
    provider: { type: "string" },
    input: { type: "string" },
    output: { type: "string" },
    "cache-read": { type: "string" },
    "cache-write": { type: "string" },
    reasoning: { type: "string" },
    unit: { type: "string" },
    effective: { type: "string" },
    source: { type: "string" },
    notes: { type: "string" },
  },
  async run(context) {
    const action = context.positionals[0];
    if (action === "list") return list(context);
    if (action === "set") return set(context);
    if (action === "import") return importLiteLlm(context);
    throw new UsageError("usage: costctl prices list|set|import; costctl prices --help");
  },
};
