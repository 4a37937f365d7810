/** A one-line progress bar on stderr (only on a terminal): done/total, rate and ETA, redrawn at most every 200 ms. */
export function progressReporter(unit: string): { update(done: number, total: number): void; done(): void } {
  const started = Date.now();
  let last = 0;
  let drawn = false;
  const interactive = process.stderr.isTTY === true;
  return {
    update(done, total) {
      if (!interactive || (Date.now() - last < 200 && done < total)) return;
      last = Date.now();
      const seconds = Math.max((Date.now() - started) / 1000, 0.001);
      const rate = done / seconds;
      const eta = rate > 0 ? Math.ceil((total - done) / rate) : 0;
      const width = 30;
      const filled = total > 0 ? Math.round((done / total) * width) : 0;
      const bar = `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
      process.stderr.write(`\r${bar} ${done.toLocaleString("en-US")}/${total.toLocaleString("en-US")} ${unit}  ${Math.round(rate)}/s  ETA ${eta}s   `);
      drawn = true;
    },
    done() {
      if (drawn) process.stderr.write("\n");
    },
  };
}
