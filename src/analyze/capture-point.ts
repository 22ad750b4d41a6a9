import type { PacketFacts } from './packet-facts.js';

/**
 * Where in the capture a packet was seen, finer than the pcapng interface: a `tcpdump -i any` capture has one
 * interface ("any", or none in a pcap file) for every device of the host, and tells the devices apart by the SLL2
 * header's interface index (or, with the older SLL header, only by whether the host received or sent the packet).
 * The same packet seen at two capture points of one file has crossed whatever lies between them: a router, a
 * firewall, the capture host's own forwarding.
 */
export interface CapturePoint {
  /** As sentences print it: "eth1", "#2", "ifindex 3", "any (sent)". */
  readonly label: string;
  /** For Finding.interface: the label, or undefined for a capture without interface names or devices. */
  readonly interface: string | undefined;
  /** A Wireshark display filter clause that selects this point's packets; '' when every packet of the file is there. */
  readonly filter: string;
}

/** The capture point of a packet. Builds strings: call it for the few packets that need it (SYNs), not for all. */
export function capturePointOf(p: Pick<PacketFacts, 'interface' | 'ifindex' | 'direction'>): CapturePoint {
  const name = p.interface;
  const anyDevice = name === undefined || name === 'any';
  if (p.ifindex !== undefined && anyDevice) {
    const label = `ifindex ${p.ifindex}`;
    return { label, interface: label, filter: `sll.ifindex == ${p.ifindex}` };
  }
  if (p.ifindex === undefined && anyDevice && p.direction !== undefined) {
    // SLL v1: only the direction tells the received copy of a forwarded packet from the sent one.
    const sent = p.direction === 'out';
    const label = `${name ?? 'the capture host'} (${sent ? 'sent' : 'received'})`;
    return { label, interface: label, filter: sent ? 'sll.pkttype == 4' : 'sll.pkttype != 4' };
  }
  return { label: name ?? 'the capture', interface: name, filter: interfaceFilter(name) };
}

/**
 * Where a packet was captured, as a map-key prefix ('' for a capture without interfaces): the pcapng interface and, for
 * `tcpdump -i any`, the SLL2 interface index. State is kept per point: a router's two-interface capture sees each packet
 * twice, and dumpcap writes the records of different interfaces out of time order (a later ACK on eth1 can precede a
 * Packet Too Big on eth2). Remembers the last point, so that the packets of one interface, which come in runs, cost no
 * string each.
 */
export class PointKeys {
  private lastInterface: string | undefined;
  private lastIfindex: number | undefined;
  private lastKey = '';

  of(p: Pick<PacketFacts, 'interface' | 'ifindex'>): string {
    if (p.interface !== this.lastInterface || p.ifindex !== this.lastIfindex) {
      this.lastInterface = p.interface;
      this.lastIfindex = p.ifindex;
      this.lastKey = p.ifindex === undefined ? (p.interface === undefined ? '' : `${p.interface}|`) : `${p.interface ?? ''}#${p.ifindex}|`;
    }
    return this.lastKey;
  }
}

/** `frame.interface_name == "eth0"`, `frame.interface_id == 2` for an unnamed pcapng interface, '' for pcap. */
export function interfaceFilter(name: string | undefined): string {
  if (name === undefined) return '';
  const unnamed = /^#(\d+)$/.exec(name);
  if (unnamed !== null) return `frame.interface_id == ${unnamed[1]!}`;
  return `frame.interface_name == "${name.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** `a && b` for the clauses that are not empty, each in parentheses when it holds `||`. */
export function allOf(...clauses: readonly string[]): string {
  const parts = clauses.filter((c) => c !== '').map((c) => (c.includes('||') ? `(${c})` : c));
  return parts.length === 0 ? 'frame' : parts.join(' && ');
}

/** `a || b` of the clauses; '' when any of them is '' (that one selects every packet). */
export function anyOf(...clauses: readonly string[]): string {
  if (clauses.some((c) => c === '')) return '';
  const unique = [...new Set(clauses)];
  return unique.length === 1 ? unique[0]! : unique.map((c) => (c.includes('&&') ? `(${c})` : c)).join(' || ');
}

/** " on eth0", or '' for a capture without interface names. */
export function onInterface(name: string | undefined): string {
  return name === undefined ? '' : ` on ${name}`;
}

/** "1 packet", "12 packets". */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}
