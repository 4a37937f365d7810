import { spawn, type ChildProcess } from "node:child_process";

/** The service as its own process (`src/main.ts`), as operators run it. */
export interface ServerProcess {
  readonly child: ChildProcess;
  readonly address: string;
  /** Everything the process wrote to stderr so far (its JSON log lines). */
  log(): string;
  /** Resolves with the exit code (or signal) once the process has ended. */
  exited: Promise<number | NodeJS.Signals>;
}

/**
 * Starts `src/main.ts` with the given environment on a free port and waits until it logs "serving". It runs in ONE
 * process (node with tsx's loader), not under the tsx command, which would put the server in a child process that
 * outlives a SIGKILL of its parent and keeps the port and the database open.
 */
export async function startServerProcess(env: Record<string, string>, timeoutMs = 60_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    env: { ...process.env, DATABASE_URL: "", LISTEN_ADDRESS: "127.0.0.1:0", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | NodeJS.Signals>((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal!)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${stderr}`)), timeoutMs);
    const check = () => {
      const line = stderr.split("\n").find((l) => l.includes('"message":"serving"'));
      if (line) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
      }
    };
    child.stderr!.on("data", check);
    void exited.then(() => reject(new Error(`server exited before serving:\n${stderr}`)));
  });
  return { child, address: `127.0.0.1:${port}`, log: () => stderr, exited };
}
