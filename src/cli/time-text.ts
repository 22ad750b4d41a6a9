const NS_PER_S = 1_000_000_000n;

/** Seconds since the epoch with all nine digits, exact (as tshark's frame.time_epoch prints it). */
export function epochText(ns: bigint): string {
  // One conversion to text instead of two divisions: this runs for every packet of `decode --json`.
  if (ns >= NS_PER_S) {
    const digits = ns.toString();
    return `${digits.slice(0, -9)}.${digits.slice(-9)}`;
  }
  const sec = ns / NS_PER_S;
  const frac = ns % NS_PER_S;
  return `${sec}.${frac.toString().padStart(9, '0')}`;
}

/** UTC wall-clock time with nanoseconds, for people reading the text output. */
export function isoText(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const base = new Date(ms).toISOString().slice(0, 19);
  return `${base}.${(ns % NS_PER_S).toString().padStart(9, '0')}Z`;
}
