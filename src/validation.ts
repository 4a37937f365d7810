import type { Violations } from "./errors.js";

/** Identifiers (request, task, agent, execution and user ids): 1 to 128 of letters, digits and "._:/@-". */
export const IDENTIFIER_PATTERN = /^[A-Za-z0-9._:/@-]{1,128}$/;

/** Checks an identifier; empty is allowed unless required. Returns the identifier, or undefined when empty. */
export function identifier(value: string, field: string, violations: Violations, required = false): string | undefined {
  if (value === "") {
    if (required) violations.add(field, "is required");
    return undefined;
  }
  if (!IDENTIFIER_PATTERN.test(value)) {
    violations.add(field, 'must be 1 to 128 characters of letters, digits and "._:/@-"');
  }
  return value;
}

/** Checks a free-text field: at most maxLength characters, no control characters. Empty means absent. */
export function text(
  value: string,
  field: string,
  maxLength: number,
  violations: Violations,
  required = false,
): string | undefined {
  if (value.trim() === "") {
    if (required) violations.add(field, "is required");
    return undefined;
  }
  if (value.length > maxLength) violations.add(field, `must be at most ${maxLength} characters, got ${value.length}`);
  // eslint-disable-next-line no-control-regex
  else if (/[\u0000-\u001f\u007f]/.test(value) && maxLength < 1000) violations.add(field, "must not contain control characters");
  return value;
}

/** Checks a non-negative int64 given as a decimal string; returns it as a bigint. */
export function nonNegativeInt64(value: string, field: string, violations: Violations): bigint {
  if (!/^-?\d+$/.test(value)) {
    violations.add(field, `must be a whole number, got "${value}"`);
    return 0n;
  }
  const parsed = BigInt(value);
  if (parsed < 0n) violations.add(field, `must not be negative, got ${value}`);
  if (parsed > 9_223_372_036_854_775_807n) violations.add(field, "must fit in a signed 64-bit integer");
  return parsed;
}

/** The longest duration an event may report: a year, far beyond any call or agent run, far below int64 overflow. */
export const MAX_DURATION_MS = 31_536_000_000n;

/** Checks a duration in milliseconds: a whole number from 0 to MAX_DURATION_MS. */
export function durationMs(value: string, field: string, violations: Violations): bigint {
  const before = violations.list.length;
  const parsed = nonNegativeInt64(value, field, violations);
  if (violations.list.length === before && parsed > MAX_DURATION_MS) {
    violations.add(field, `must be at most ${MAX_DURATION_MS} (a year), got ${value}`);
  }
  return parsed;
}
