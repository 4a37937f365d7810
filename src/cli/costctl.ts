// costctl: CostTrackingService from the command line, through the typed client. `costctl --help` lists commands.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { credentials, status } from "@grpc/grpc-js";
import { CostTrackingError, createCostTrackingClient, type CostTrackingClient } from "../../client/index.js";
import { UsageError, type Command } from "./command.js";
import { aggregate } from "./commands/aggregate.js";
import { budget } from "./commands/budget.js";
import { estimate } from "./commands/estimate.js";
import { exportCommand } from "./commands/export.js";
import { importCommand } from "./commands/import.js";
import { prices } from "./commands/prices.js";
import { migrate, serve } from "./commands/service.js";
import { stats } from "./commands/stats.js";
import { summary } from "./commands/summary.js";
import { track } from "./commands/track.js";
import { watch } from "./commands/watch.js";

const COMMANDS: Command[] = [
  serve,
  migrate,
  track,
  estimate,
  stats,
  aggregate,
  summary,
  budget,
  prices,
  watch,
  importCommand,
  exportCommand,
];

const GLOBAL_OPTIONS = {
  server: { type: "string" },
  token: { type: "string" },
  "tls-ca": { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

const GLOBAL_HELP: Array<[string, string]> = [
  ["--server <host:port>", "the server (default $COSTCTL_SERVER or 127.0.0.1:50051)"],
  ["--token <token>", "bearer token (default $COSTCTL_TOKEN)"],
  ["--tls-ca <file.pem>", "connect with TLS, trusting this CA"],
  ["--json", "print JSON for scripts instead of tables"],
  ["-h, --help", "help for the command"],
];

function helpText(command?: Command): string {
  const flags = (rows: Array<[string, string]>) => {
    const width = Math.max(...rows.map(([f]) => f.length));
    return rows.map(([f, d]) => `  ${f.padEnd(width)}  ${d}`).join("\n");
  };
  if (!command) {
    const width = Math.max(...COMMANDS.map((c) => c.name.length));
    return [
      "usage: costctl <command> [flags]",
      "",
      "commands:",
      ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
      "",
      "flags of every command:",
      flags(GLOBAL_HELP),
      "",
      "costctl <command> --help shows a command's flags.",
    ].join("\n");
  }
  return [`usage: costctl ${command.name} ${command.usage}`.trimEnd(), "", command.summary, "", flags([...command.help, ...GLOBAL_HELP])].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(helpText());
    return name ? 0 : 2;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command "${name}"; costctl --help lists them`);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { ...GLOBAL_OPTIONS, ...command.options },
  });
  if (values.help) {
    console.log(helpText(command));
    return 0;
  }
  let client: CostTrackingClient | undefined;
  const connect = () => {
    const caFile = typeof values["tls-ca"] === "string" ? values["tls-ca"] : undefined;
    const token = (typeof values.token === "string" ? values.token : undefined) ?? process.env.COSTCTL_TOKEN;
    client ??= createCostTrackingClient(
      (typeof values.server === "string" ? values.server : undefined) ?? process.env.COSTCTL_SERVER ?? "127.0.0.1:50051",
      {
        ...(caFile ? { credentials: credentials.createSsl(readFileSync(caFile)) } : {}),
        ...(token ? { token } : {}),
      },
    );
    return client;
  };
  try {
    await command.run({ values: values as Record<string, string | boolean | undefined>, positionals, json: values.json === true, connect });
  } finally {
    client?.close();
  }
  return 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof CostTrackingError) {
    const fields = error.fieldViolations.map((v) => `${v.field}: ${v.description}`).join("; ");
    const detail = error.code === status.UNAVAILABLE && !error.reason ? `cannot reach the server (${error.message.split(". ")[0]})` : fields || error.message;
    console.error(`costctl: ${status[error.code]}${error.reason && error.reason !== status[error.code] ? ` ${error.reason}` : ""}: ${detail}`);
    process.exitCode = 1;
  } else if (error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
    console.error(`costctl: ${(error as Error).message}`);
    process.exitCode = 2;
  } else {
    console.error(`costctl: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
