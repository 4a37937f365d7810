import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";

/**
 * A PostgreSQL server of a test's own (initdb in a temporary folder, its own port), for tests that stop, restart
 * or replicate a server: doing that to the shared server at 127.0.0.1:5432 would break every other test running.
 * PostgreSQL refuses to run as root, so the server runs as the postgres user.
 */
export interface PrivatePostgres {
  readonly port: number;
  readonly dataDir: string;
  /** postgres://postgres@127.0.0.1:<port>/<database> */
  url(database?: string): string;
  stop(mode?: "fast" | "immediate"): void;
  start(): void;
  /** Stops the server and deletes its folder. */
  destroy(): void;
}

const BIN = (() => {
  const version = readdirSync("/usr/lib/postgresql").sort((a, b) => Number(b) - Number(a))[0];
  return `/usr/lib/postgresql/${version}/bin`;
})();

const asPostgres = (command: string, args: string[]) => {
  const runAsPostgres = process.getuid?.() === 0;
  execFileSync(runAsPostgres ? "runuser" : command, runAsPostgres ? ["-u", "postgres", "--", command, ...args] : args, {
    stdio: "pipe",
  });
};

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

/** Creates and starts a private server with trust authentication on 127.0.0.1. */
export async function startPrivatePostgres(extraConfig: string[] = []): Promise<PrivatePostgres> {
  const dataDir = mkdtempSync(join(tmpdir(), "costtracking-pg-"));
  chmodSync(dataDir, 0o777);
  const port = await freePort();
  asPostgres(`${BIN}/initdb`, ["-D", `${dataDir}/data`, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  return startServerIn(dataDir, port, extraConfig);
}

/**
 * Creates and starts a hot-standby streaming replica of a private server, on its own port: a base backup of the
 * primary (pg_basebackup -R -X stream writes standby.signal and primary_conninfo), started with hot_standby on so
 * it answers read-only queries while it replays. initdb --auth=trust allows replication connections from
 * 127.0.0.1, and PostgreSQL 15's defaults (wal_level replica, max_wal_senders 10) allow streaming. The backup
 * asks for an immediate checkpoint: the default spread one makes pg_basebackup wait about a minute and a half.
 * Pause and resume its replay with `select pg_wal_replay_pause()` / `pg_wal_replay_resume()` on the replica.
 */
export async function startStreamingReplica(primary: PrivatePostgres, extraConfig: string[] = []): Promise<PrivatePostgres> {
  const dataDir = mkdtempSync(join(tmpdir(), "costtracking-pg-replica-"));
  chmodSync(dataDir, 0o777);
  const port = await freePort();
  asPostgres(`${BIN}/pg_basebackup`, [
    "-h", "127.0.0.1", "-p", String(primary.port), "-U", "postgres", "-D", `${dataDir}/data`, "-R", "-X", "stream", "--checkpoint=fast", "--no-sync",
  ]);
  return startServerIn(dataDir, port, ["hot_standby=on", ...extraConfig]);
}

/** Starts the server whose data directory is `${dataDir}/data` on a port, and returns its handle. */
function startServerIn(dataDir: string, port: number, extraConfig: string[]): PrivatePostgres {
  const options = ["-p", String(port), "-k", dataDir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", ...extraConfig.flatMap((c) => ["-c", c])];
  const server: PrivatePostgres = {
    port,
    dataDir: `${dataDir}/data`,
    url: (database = "postgres") => `postgres://postgres@127.0.0.1:${port}/${database}`,
    start: () => asPostgres(`${BIN}/pg_ctl`, ["-D", `${dataDir}/data`, "-o", options.join(" "), "-l", `${dataDir}/log`, "-w", "start"]),
    stop: (mode = "fast") => asPostgres(`${BIN}/pg_ctl`, ["-D", `${dataDir}/data`, "-m", mode, "-w", "stop"]),
    destroy: () => {
      try {
        server.stop("immediate");
      } catch {
        // already stopped
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  server.start();
  return server;
}
