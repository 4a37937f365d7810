/** Renders rows as an aligned text table; numbers-looking columns are right-aligned. */
export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = rows.map((row) => row.map(String));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? "").length)));
  const numeric = headers.map((_, i) => cells.length > 0 && cells.every((r) => /^[-$]?[\d.,]+%?$/.test(r[i] ?? "")));
  const line = (row: string[]) =>
    row
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

/** Groups an integer string in thousands: "22361870" -> "22,361,870". Exact for any length. */
export function groupDigits(whole: string): string {
  return whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** Money for people: "$5.8074795" (exact; never rounded). */
export function usd(amount: string | undefined): string {
  return amount === undefined ? "unpriced" : `$${amount}`;
}

/** Prints a value as JSON (for --json), with int64 strings kept as strings. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}
