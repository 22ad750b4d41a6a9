/**
 * Renders our decode of a frame the way `tshark -T fields -E occurrence=a -E aggregator=,` prints the same fields, so
 * that the two can be compared value by value. Every field listed in ORACLE_FIELDS has a renderer here; a layer adds
 * its value for a field each time that layer occurs (outer layer first, then tunnelled and ICMP-quoted ones), which is
 * the order tshark lists repeated fields in.
 *
 * tshark conventions mirrored here (checked on TShark 4.0.17, see also tshark.ts):
 * - hex: ip.id (0x%04x), ipv6.fraghdr.ident (0x%08x), tcp.flags (0x%04x), eth.type/vlan.etype/sll.etype (0x%04x),
 *   gre.proto (0x%04x), gre.key (0x%08x); flags print 1/0; offsets print in 8-byte units.
 * - checksum status: 0 bad, 1 good, 2 unverified. tshark has no notion of a partial (offloaded) checksum: with
 *   verification on, it calls one bad, so our `partial` must be where tshark says 0.
 * - of a TCP segment quoted in an ICMP error tshark prints no tcp.len and no tcp.seq_raw, and (with tcp.check_checksum
 *   on) calls its checksum bad because the quote is incomplete, where we say unverified. QUOTED_NOT_COMPARED lists
 *   such fields: only their occurrences in layers that are not quoted are compared.
 */
import type { DecodedFrame, Layer } from '../../src/packet/frame.js';
import type { ChecksumStatus } from '../../src/packet/checksum-status.js';
import { tcpOptionSummary } from '../../src/packet/tcp-options.js';

type Renderer = (l: Layer) => string | undefined;

function hex(v: number, digits: number): string {
  return `0x${v.toString(16).padStart(digits, '0')}`;
}

function bit(b: boolean): string {
  return b ? '1' : '0';
}

function status(s: ChecksumStatus): string {
  return s === 'bad' || s === 'partial' ? '0' : s === 'good' ? '1' : '2';
}

function on<P extends Layer['protocol']>(protocol: P, f: (l: Extract<Layer, { protocol: P }>) => string | number | undefined): Renderer {
  return (l) => {
    if (l.protocol !== protocol) return undefined;
    const v = f(l as Extract<Layer, { protocol: P }>);
    return v === undefined ? undefined : String(v);
  };
}

const RENDERERS: Readonly<Record<string, Renderer>> = {
  'eth.src': on('ethernet', (l) => l.repr.src),
  'eth.dst': on('ethernet', (l) => l.repr.dst),
  'vlan.id': (l) => (l.protocol === 'ethernet' && l.repr.vlans.length > 0 ? l.repr.vlans.map((v) => v.vid).join(',') : undefined),
  'sll.pkttype': (l) => (l.protocol === 'sll' || l.protocol === 'sll2' ? String(l.repr.packetType) : undefined),
  'sll.ifindex': on('sll2', (l) => l.repr.interfaceIndex),
  'sll.etype': (l) => (l.protocol === 'sll' || l.protocol === 'sll2' ? hex(l.repr.protocol, 4) : undefined),
  'null.family': on('null', (l) => l.repr.family),
  'arp.opcode': on('arp', (l) => l.repr.operation),
  'arp.src.hw_mac': on('arp', (l) => l.repr.senderHardwareAddress),
  'arp.src.proto_ipv4': on('arp', (l) => l.repr.senderProtocolAddress),
  'arp.dst.hw_mac': on('arp', (l) => l.repr.targetHardwareAddress),
  'arp.dst.proto_ipv4': on('arp', (l) => l.repr.targetProtocolAddress),
  'ip.src': on('ipv4', (l) => l.repr.src),
  'ip.dst': on('ipv4', (l) => l.repr.dst),
  'ip.hdr_len': on('ipv4', (l) => 20 + l.repr.options.length),
  'ip.len': on('ipv4', (l) => 20 + l.repr.options.length + l.repr.payloadLength),
  'ip.id': on('ipv4', (l) => hex(l.repr.ident, 4)),
  'ip.ttl': on('ipv4', (l) => l.repr.ttl),
  'ip.proto': on('ipv4', (l) => l.repr.protocol),
  'ip.flags.df': on('ipv4', (l) => bit(l.repr.dontFragment)),
  'ip.flags.mf': on('ipv4', (l) => bit(l.repr.moreFragments)),
  'ip.frag_offset': on('ipv4', (l) => l.repr.fragmentOffset / 8),
  'ip.checksum.status': on('ipv4', (l) => status(l.checksum)),
  'ipv6.src': on('ipv6', (l) => l.repr.src),
  'ipv6.dst': on('ipv6', (l) => l.repr.dst),
  'ipv6.plen': on('ipv6', (l) => l.repr.payloadLength),
  'ipv6.nxt': on('ipv6', (l) => l.repr.nextHeader),
  'ipv6.hlim': on('ipv6', (l) => l.repr.hopLimit),
  'ipv6.fraghdr.offset': on('ipv6', (l) => fragmentField(l, (f) => String(f.fragmentOffset / 8))),
  'ipv6.fraghdr.more': on('ipv6', (l) => fragmentField(l, (f) => bit(f.moreFragments))),
  'ipv6.fraghdr.ident': on('ipv6', (l) => fragmentField(l, (f) => hex(f.ident, 8))),
  'ipv6.fraghdr.nxt': on('ipv6', (l) => fragmentField(l, (f) => String(f.nextHeader))),
  'icmp.type': on('icmpv4', (l) => icmpv4Type(l)),
  'icmp.code': on('icmpv4', (l) => ('code' in l.repr ? l.repr.code : 0)),
  'icmp.mtu': on('icmpv4', (l) => (l.repr.kind === 'destination-unreachable' && l.repr.code === 4 ? l.repr.nextHopMtu : undefined)),
  'icmp.checksum.status': on('icmpv4', (l) => status(l.checksum)),
  'icmpv6.type': on('icmpv6', (l) => icmpv6Type(l)),
  'icmpv6.code': on('icmpv6', (l) => ('code' in l.repr ? l.repr.code : 0)),
  'icmpv6.mtu': on('icmpv6', (l) => (l.repr.kind === 'packet-too-big' ? l.repr.mtu : undefined)),
  'icmpv6.checksum.status': on('icmpv6', (l) => status(l.checksum)),
  'tcp.srcport': (l) => (l.protocol === 'tcp' || l.protocol === 'tcp-head' ? String(l.repr.srcPort) : undefined),
  'tcp.dstport': (l) => (l.protocol === 'tcp' || l.protocol === 'tcp-head' ? String(l.repr.dstPort) : undefined),
  'tcp.seq_raw': (l) => (l.protocol === 'tcp' || l.protocol === 'tcp-head' ? String(l.repr.seq) : undefined),
  'tcp.ack_raw': on('tcp', (l) => l.repr.ack),
  'tcp.flags': on('tcp', (l) => hex(l.repr.flags, 4)),
  'tcp.window_size_value': on('tcp', (l) => l.repr.window),
  'tcp.len': on('tcp', (l) => (l.quoted ? undefined : l.repr.payloadLength)),
  'tcp.options.mss_val': on('tcp', (l) => tcpOptionSummary(l.repr.options).mss),
  'tcp.options.wscale.shift': on('tcp', (l) => tcpOptionSummary(l.repr.options).windowScale),
  'tcp.checksum.status': on('tcp', (l) => status(l.checksum)),
  'udp.srcport': on('udp', (l) => l.repr.srcPort),
  'udp.dstport': on('udp', (l) => l.repr.dstPort),
  'udp.length': on('udp', (l) => l.repr.payloadLength + 8),
  'udp.checksum.status': on('udp', (l) => status(l.checksum)),
  'vxlan.vni': on('vxlan', (l) => l.repr.vni),
  'gre.proto': on('gre', (l) => hex(l.repr.protocolType, 4)),
  'gre.key': on('gre', (l) => (l.repr.key === undefined ? undefined : hex(l.repr.key, 8))),
};

function fragmentField(
  l: Extract<Layer, { protocol: 'ipv6' }>,
  f: (h: Extract<Extract<Layer, { protocol: 'ipv6' }>['extensions'][number], { kind: 'fragment' }>) => string,
): string | undefined {
  const h = l.extensions.find((x) => x.kind === 'fragment');
  return h && h.kind === 'fragment' ? f(h) : undefined;
}

const ICMPV4_TYPES: Readonly<Record<string, number>> = { 'echo-reply': 0, 'destination-unreachable': 3, 'echo-request': 8, 'time-exceeded': 11 };
const ICMPV6_TYPES: Readonly<Record<string, number>> = {
  'destination-unreachable': 1,
  'packet-too-big': 2,
  'time-exceeded': 3,
  'parameter-problem': 4,
  'echo-request': 128,
  'echo-reply': 129,
};

function icmpv4Type(l: Extract<Layer, { protocol: 'icmpv4' }>): number {
  return l.repr.kind === 'other' ? l.repr.type : ICMPV4_TYPES[l.repr.kind]!;
}

function icmpv6Type(l: Extract<Layer, { protocol: 'icmpv6' }>): number {
  return l.repr.kind === 'other' ? l.repr.type : ICMPV6_TYPES[l.repr.kind]!;
}

/** Fields whose values are compared only for layers outside ICMP quotes (see above). */
export const QUOTED_NOT_COMPARED: ReadonlySet<string> = new Set(['tcp.seq_raw', 'tcp.checksum.status', 'udp.checksum.status']);

/** The fields the oracle tests compare; every one has a renderer above. */
export const ORACLE_FIELDS: readonly string[] = Object.keys(RENDERERS);

/** One record per field, values of repeated layers joined with ','; '' where no layer has the field. */
export function ourFields(frame: DecodedFrame, fields: readonly string[] = ORACLE_FIELDS): Record<string, string> {
  const row: Record<string, string> = {};
  for (const field of fields) {
    const render = RENDERERS[field];
    if (render === undefined) throw new RangeError(`no renderer for field ${field}`);
    const values: string[] = [];
    for (const l of frame.layers) {
      if (l.quoted && QUOTED_NOT_COMPARED.has(field)) continue;
      const v = render(l);
      if (v !== undefined) values.push(v);
    }
    row[field] = values.join(',');
  }
  return row;
}
