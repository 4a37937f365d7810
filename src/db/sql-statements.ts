/**
 * Splits a SQL script into statements at top-level semicolons, leaving semicolons inside quotes, dollar-quoted
 * bodies and comments alone. Needed because PGlite, unlike node-pg, runs one statement per query.
 */
export function splitSqlStatements(script: string): string[] {
  const statements: string[] = [];
  let current = "";
  let i = 0;
  while (i < script.length) {
    const rest = script.slice(i);
    const dollar = /^\$[A-Za-z_]*\$/.exec(rest);
    let token: string;
    if (rest.startsWith("--")) {
      const end = script.indexOf("\n", i);
      token = end === -1 ? rest : script.slice(i, end + 1);
    } else if (rest.startsWith("/*")) {
      const end = script.indexOf("*/", i + 2);
      token = end === -1 ? rest : script.slice(i, end + 2);
    } else if (rest[0] === "'" || rest[0] === '"') {
      const quote = rest[0];
      let end = i + 1;
      while (end < script.length && !(script[end] === quote && script[end + 1] !== quote)) {
        end += script[end] === quote ? 2 : 1;
      }
      token = script.slice(i, end + 1);
    } else if (dollar) {
      const end = script.indexOf(dollar[0], i + dollar[0].length);
      token = end === -1 ? rest : script.slice(i, end + dollar[0].length);
    } else if (rest[0] === ";") {
      if (current.trim() !== "") statements.push(current.trim());
      current = "";
      i += 1;
      continue;
    } else {
      token = rest[0]!;
    }
    current += token;
    i += token.length;
  }
  if (stripComments(current).trim() !== "") statements.push(current.trim());
  return statements.filter((s) => stripComments(s).trim() !== "");
}

function stripComments(sql: string): string {
  return sql.replace(/--[^\n]*\n?/g, "").replace(/\/\*[\s\S]*?\*\//g, "");
}
