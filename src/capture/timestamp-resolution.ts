const NS_PER_SECOND = 1_000_000_000n;

/** Largest ns-per-unit for which `low32 * nsPerUnit` stays an exact double (2^32 * 2^21 = 2^53). */
const EXACT_NUMBER_FACTOR = 1 << 21;

/**
 * A pcapng if_tsresol value: bit 7 clear means units of 10^-n s, set means 2^-n s (n = low 7 bits).
 * Conversions floor towards zero, so writing a timestamp at a coarser resolution truncates it the way
 * libpcap and Wireshark truncate.
 */
export class TimestampResolution {
  readonly unitsPerSecond: bigint;
  /** Whole nanoseconds per unit, or 0n when a unit is not a whole number of nanoseconds. */
  readonly nsPerUnit: bigint;
  /** nsPerUnit as a number when multiplying a 32-bit value by it is exact, else 0. */
  readonly nsPerUnitSmall: number;

  constructor(readonly code: number) {
    if (!Number.isInteger(code) || code < 0 || code > 0xff) throw new RangeError(`if_tsresol ${code} is not a byte`);
    const n = BigInt(code & 0x7f);
    this.unitsPerSecond = code & 0x80 ? 2n ** n : 10n ** n;
    this.nsPerUnit = NS_PER_SECOND % this.unitsPerSecond === 0n ? NS_PER_SECOND / this.unitsPerSecond : 0n;
    this.nsPerUnitSmall = this.nsPerUnit !== 0n && this.nsPerUnit <= BigInt(EXACT_NUMBER_FACTOR) ? Number(this.nsPerUnit) : 0;
  }

  static readonly MICROSECONDS = new TimestampResolution(6);
  static readonly NANOSECONDS = new TimestampResolution(9);

  toNs(units: bigint): bigint {
    return this.nsPerUnit !== 0n ? units * this.nsPerUnit : (units * NS_PER_SECOND) / this.unitsPerSecond;
  }

  fromNs(ns: bigint): bigint {
    return this.nsPerUnit !== 0n ? ns / this.nsPerUnit : (ns * this.unitsPerSecond) / NS_PER_SECOND;
  }

  /** `ns` rounded down to this resolution, which is what a write and a read give back. */
  round(ns: bigint): bigint {
    return this.toNs(this.fromNs(ns));
  }
}
