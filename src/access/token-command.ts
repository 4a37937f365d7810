// `npm run token -- <name> <reader|writer|admin>`: makes a new bearer token. Prints the token once (give it to the
// caller) and the line to add to AUTH_TOKENS_FILE, which holds only its SHA-256 hash.
import { ROLES, hashToken, newToken, type Role } from "./tokens.js";

const [name, role] = process.argv.slice(2);
if (!name || !/^[A-Za-z0-9._@-]{1,64}$/.test(name) || !(ROLES as readonly string[]).includes(role ?? "")) {
  console.error(`usage: npm run token -- <name> <${ROLES.join("|")}>   (name: letters, digits and "._@-")`);
  process.exit(2);
}
const token = newToken();
console.log(`token (give it to ${name}; it is not stored anywhere): ${token}`);
console.log(`line for AUTH_TOKENS_FILE: ${name}:${role as Role}:${hashToken(token)}`);
