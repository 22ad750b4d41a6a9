/**
 * Bounds that keep a corrupt length field from making the reader buffer gigabytes: the reader holds at
 * most one partial record, so a record length is also the reader's memory bound.
 */

/** libpcap's and Wireshark's usual maximum snapshot length (MAXIMUM_SNAPLEN / WTAP_MAX_PACKET_SIZE_STANDARD). */
export const STANDARD_MAX_SNAPLEN = 262_144;

/**
 * No record or block is ever larger than this, whatever the header's snaplen says. Wireshark's largest
 * per-link-type maximum is 128 MiB (D-Bus); twice that leaves room without trusting absurd values.
 */
export const MAX_RECORD_BYTES = 256 * 1024 * 1024;

/**
 * The largest incl_len a pcap record may carry in a file whose header says `snaplen`.
 *
 * libpcap rejects incl_len above the maximum snapshot length for the link type (262144 for nearly all)
 * and silently accepts incl_len above the header's snaplen up to that maximum. We accept up to the larger
 * of the two so files with a big legitimate snaplen (D-Bus, USB) still read, capped by MAX_RECORD_BYTES.
 */
export function pcapRecordLimit(snaplen: number): number {
  return Math.min(Math.max(snaplen, STANDARD_MAX_SNAPLEN), MAX_RECORD_BYTES);
}
