import { createHash, randomBytes } from "node:crypto";

/** What a caller may do. admin includes reader and writer. */
export const ROLES = ["reader", "writer", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** A caller known by a configured token. */
export interface Principal {
  name: string;
  role: Role;
}

/** SHA-256 of a bearer token, hex: the only form in which tokens are configured and kept. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** A new random bearer token (256 bits, base64url). */
export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

/**
 * Parses token entries "name:role:sha256hex", one per line or separated by commas; blank lines and lines starting
 * with # are ignored. Problems are reported with where they are, never with the hash itself.
 */
export function parseTokenEntries(text: string, source: string): { entries: Map<string, Principal>; problems: string[] } {
  const entries = new Map<string, Principal>();
  const problems: string[] = [];
  text.split(/[\n,]/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const [name = "", role = "", hash = "", ...rest] = line.split(":");
    const where = `${source} entry ${index + 1}`;
    if (rest.length > 0 || !/^[A-Za-z0-9._@-]{1,64}$/.test(name)) {
      problems.push(`${where}: must be name:role:sha256hex with a name of letters, digits and "._@-"`);
    } else if (!(ROLES as readonly string[]).includes(role)) {
      problems.push(`${where} (${name}): role must be one of ${ROLES.join(", ")}`);
    } else if (!/^[0-9a-f]{64}$/.test(hash)) {
      problems.push(`${where} (${name}): the token must be given as its SHA-256 hash, 64 lowercase hex digits`);
    } else if (entries.has(hash)) {
      problems.push(`${where} (${name}): the same token is configured twice`);
    } else {
      entries.set(hash, { name, role: role as Role });
    }
  });
  return { entries, problems };
}
