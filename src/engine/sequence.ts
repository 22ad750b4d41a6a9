/** TCP sequence numbers wrap at 2^32; offsets from the initial sequence number do not (for up to 2 GiB). */
export function seqOffset(seq: number, isn: number): number {
  return (seq - isn) >>> 0;
}

/** a < b in sequence space (RFC 793 modular comparison). */
export function seqBefore(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}
