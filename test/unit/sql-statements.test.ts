import { describe, expect, it } from "vitest";
import { splitSqlStatements } from "../../src/db/sql-statements.js";

describe("splitSqlStatements", () => {
  it("splits at top-level semicolons and drops comment-only pieces", () => {
    expect(splitSqlStatements("-- a comment\nCREATE TABLE a (x int);\n\n/* b; */ INSERT INTO a VALUES (1);\n-- end\n")).toEqual([
      "-- a comment\nCREATE TABLE a (x int)",
      "/* b; */ INSERT INTO a VALUES (1)",
    ]);
  });

  it("leaves semicolons in strings, identifiers and dollar-quoted bodies alone", () => {
    const script = `INSERT INTO t VALUES ('a;b', 'it''s;');\nCREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\nSELECT "x;y" FROM t`;
    expect(splitSqlStatements(script)).toEqual([
      "INSERT INTO t VALUES ('a;b', 'it''s;')",
      "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql",
      'SELECT "x;y" FROM t',
    ]);
  });
});
