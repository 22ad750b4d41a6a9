/**
 * iptables matches written once for everything that installs or counts rules: the checker's engine, the relay and
 * the lab's middle boxes and scenarios.
 */
import type { FamilyMap } from '../packet/ip-family.js';

/** ICMP "fragmentation needed" (IPv4) and Packet Too Big (IPv6): what path MTU discovery listens for. */
export const PACKET_TOO_BIG_MATCH: FamilyMap<readonly string[]> = {
  4: ['-p', 'icmp', '--icmp-type', 'fragmentation-needed'],
  6: ['-p', 'ipv6-icmp', '--icmpv6-type', 'packet-too-big'],
};
