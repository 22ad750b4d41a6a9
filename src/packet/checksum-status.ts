/**
 * What checking a checksum found.
 *
 * `partial`: the check fails, but the field holds exactly what a sender that leaves the checksum to its NIC (checksum
 * offload; Linux `CHECKSUM_PARTIAL`) writes there, so the capture saw the packet before the checksum was completed and
 * the bytes captured cannot be verified. Wireshark, for the same reason, does not verify TCP/UDP checksums by default.
 * See segmentChecksumStatus for the exact rule.
 */
export type ChecksumStatus = 'good' | 'bad' | 'unverified' | 'partial';
