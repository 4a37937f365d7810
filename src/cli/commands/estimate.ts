import { TokenKind } from "../../../client/index.js";
import { requireFlag, timeFlag, type Command } from "../command.js";
import { groupDigits, printJson, table, usd } from "../output.js";
import { USAGE_HELP, USAGE_OPTIONS, usageFromFlags } from "./track.js";

const KIND_NAMES: Record<number, string> = {
  [TokenKind.TOKEN_KIND_INPUT]: "input",
  [TokenKind.TOKEN_KIND_CACHE_READ_INPUT]: "cache read",
  [TokenKind.TOKEN_KIND_CACHE_WRITE_INPUT]: "cache write",
  [TokenKind.TOKEN_KIND_OUTPUT]: "output",
  [TokenKind.TOKEN_KIND_REASONING_OUTPUT]: "reasoning",
};

export const estimate: Command = {
  name: "estimate",
  summary: "price a usage of a model without recording it, with its line items",
  usage: "--model <name> --input-tokens <n> --output-tokens <n> [flags]",
  help: [
    ["--model <name>", "the model (required)"],
    ["--provider <name>", "the provider"],
    ...USAGE_HELP,
    ["--time <iso>", "price at this time (default now)"],
  ],
  options: { model: { type: "string" }, provider: { type: "string" }, time: { type: "string" }, ...USAGE_OPTIONS },
  async run({ values, json, connect }) {
    const response = await connect().calculateCost({
      model: requireFlag(values, "model"),
      provider: typeof values.provider === "string" ? values.provider : "",
      usage: usageFromFlags(values),
      time: timeFlag(values, "time"),
    });
    if (json) return printJson(response);
    if (response.unpriced) {
      console.log(`no price for ${String(values.model)}: the call would be recorded as unpriced`);
      return;
    }
    console.log(
      table(
        ["kind", "tokens", "USD per 1M", "amount"],
        response.lineItems.map((item) => [
          KIND_NAMES[item.kind] ?? String(item.kind),
          groupDigits(item.tokens),
          item.rateUsdPerMillionTokens,
          usd(item.amountUsd),
        ]),
      ),
    );
    console.log(`total ${usd(response.costUsd)}  (${response.price?.provider}/${response.price?.model}, price ${response.price?.priceId})`);
  },
};
