/** What the benchmarks share: the PostgreSQL they create their databases on, timing, and docs/BENCHMARKS.md. */
import { readFile, writeFile } from "node:fs/promises";
import pg from "pg";

/** An admin URL of the PostgreSQL server benchmarks create (and drop) their databases on, from BENCH_POSTGRES_URL. */
export const ADMIN_URL = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** The URL of database `name` on that server. */
export const urlOf = (name: string) => Object.assign(new URL(ADMIN_URL), { pathname: `/${name}` }).toString();

/** Runs one statement (CREATE/DROP DATABASE) on the admin connection. */
export async function admin(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** How long `fn` took, in milliseconds. */
export async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

/**
 * Puts a benchmark's section into docs/BENCHMARKS.md: `section` starts with `<!-- name:start -->` and ends with
 * `<!-- name:end -->`; it replaces the section between the same markers, or is appended when there is none yet.
 */
export async function writeBenchmarkSection(name: string, section: string): Promise<void> {
  const path = new URL("../docs/BENCHMARKS.md", import.meta.url);
  const existing = await readFile(path, "utf8").catch(() => "# Benchmarks\n");
  const marker = new RegExp(`<!-- ${name}:start -->[\\s\\S]*<!-- ${name}:end -->`);
  await writeFile(path, marker.test(existing) ? existing.replace(marker, () => section) : `${existing.trimEnd()}\n\n${section}\n`);
}
