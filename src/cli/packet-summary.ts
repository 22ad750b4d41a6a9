import type { CapturedPacket } from '../capture/captured-packet.js';
import { ArpOperation, type ArpRepr } from '../packet/arp.js';
import type { ChecksumStatus } from '../packet/checksum-status.js';
import type { DecodedFrame, Layer } from '../packet/frame.js';
import type { Icmpv4Repr } from '../packet/icmpv4.js';
import type { Icmpv6Repr } from '../packet/icmpv6.js';
import { ipProtocolName } from '../packet/ip-protocol.js';
import { neighborDiscovery, type NeighborDiscovery } from '../packet/neighbor-discovery.js';
import { formatDecodeError } from '../packet/result.js';
import type { Sll2Repr } from '../packet/sll2.js';
import type { SllRepr } from '../packet/sll.js';
import { superPacket } from '../packet/super-packet.js';
import { tcpOptionSummary } from '../packet/tcp-options.js';
import { isoText } from './time-text.js';

const SHORT_NAME: Readonly<Record<Layer['protocol'], string>> = {
  ethernet: 'eth',
  sll: 'sll',
  sll2: 'sll2',
  null: 'null',
  arp: 'arp',
  ipv4: 'ipv4',
  ipv6: 'ipv6',
  icmpv4: 'icmp',
  icmpv6: 'icmpv6',
  udp: 'udp',
  tcp: 'tcp',
  'tcp-head': 'tcp',
  vxlan: 'vxlan',
  gue: 'gue',
  gre: 'gre',
  fou: 'fou',
};

/** tcpdump's letters and order, ACK last as '.', so "[S.]" and "[P.]" read as they do there. */
const TCP_FLAG_LETTERS: readonly [number, string][] = [
  [0x002, 'S'],
  [0x001, 'F'],
  [0x008, 'P'],
  [0x004, 'R'],
  [0x020, 'U'],
  [0x080, 'W'],
  [0x040, 'E'],
  [0x100, 'N'],
  [0x010, '.'],
];

const ICMPV4_UNREACH: readonly string[] = ['net-unreachable', 'host-unreachable', 'protocol-unreachable', 'port-unreachable', 'frag-needed', 'source-route-failed'];

function icmpv4Text(r: Icmpv4Repr): string {
  switch (r.kind) {
    case 'echo-request':
    case 'echo-reply':
      return `${r.kind} id=${r.ident} seq=${r.seq}`;
    case 'destination-unreachable':
      return r.code === 4 ? `unreachable frag-needed mtu=${r.nextHopMtu}` : `unreachable ${ICMPV4_UNREACH[r.code] ?? `code=${r.code}`}`;
    case 'time-exceeded':
      return `time-exceeded ${r.code === 0 ? 'ttl' : 'reassembly'}`;
    case 'other':
      return `type=${r.type} code=${r.code}`;
  }
}

function neighborDiscoveryText(nd: NeighborDiscovery): string {
  switch (nd.kind) {
    case 'router-solicitation':
      return nd.kind;
    case 'router-advertisement':
      return `${nd.kind} hlim=${nd.curHopLimit} lifetime=${nd.routerLifetime}s${nd.managed ? ' managed' : ''}${nd.otherConfig ? ' other-config' : ''}`;
    case 'neighbor-solicitation':
      return `${nd.kind} who-has ${nd.target}`;
    case 'neighbor-advertisement': {
      const flags = `${nd.router ? 'R' : ''}${nd.solicited ? 'S' : ''}${nd.override ? 'O' : ''}`;
      return `${nd.kind} tgt-is ${nd.target}${flags === '' ? '' : ` flags=${flags}`}`;
    }
    case 'redirect':
      return `${nd.kind} dst=${nd.destination} target=${nd.target}`;
  }
}

function icmpv6Text(r: Icmpv6Repr): string {
  switch (r.kind) {
    case 'packet-too-big':
      return `packet-too-big mtu=${r.mtu}`;
    case 'echo-request':
    case 'echo-reply':
      return `${r.kind} id=${r.ident} seq=${r.seq}`;
    case 'destination-unreachable':
      return `unreachable code=${r.code}`;
    case 'time-exceeded':
      return `time-exceeded ${r.code === 0 ? 'hop-limit' : 'reassembly'}`;
    case 'parameter-problem':
      return `parameter-problem code=${r.code} pointer=${r.pointer}`;
    case 'other': {
      const nd = neighborDiscovery(r);
      return nd === undefined ? `type=${r.type} code=${r.code}` : neighborDiscoveryText(nd);
    }
  }
}

function arpText(r: ArpRepr): string {
  switch (r.operation) {
    case ArpOperation.Request:
      return `request who-has ${r.targetProtocolAddress} tell ${r.senderProtocolAddress}`;
    case ArpOperation.Reply:
      return `reply ${r.senderProtocolAddress} is-at ${r.senderHardwareAddress}`;
    default:
      return `op=${r.operation} ${r.senderProtocolAddress} (${r.senderHardwareAddress}) > ${r.targetProtocolAddress} (${r.targetHardwareAddress})`;
  }
}

/** The Linux packet types of a cooked header, as tcpdump names them. */
const DIRECTIONS: readonly string[] = ['In', 'B', 'M', 'P', 'Out'];

/**
 * Where a packet of `tcpdump -i any` was seen: the interface and the direction. The interface is the name from the
 * pcapng interface description when that names a device (not the "any" pseudo-device); else SLL2's interface index,
 * which is all the file says (a name looked up on this host would be another host's, or another namespace's).
 */
function cookedText(r: SllRepr | Sll2Repr, interfaceName: string | undefined): string {
  const direction = DIRECTIONS[r.packetType] ?? `pkttype=${r.packetType}`;
  if (interfaceName !== undefined && interfaceName !== '' && interfaceName !== 'any') return `${interfaceName} ${direction}`;
  return 'interfaceIndex' in r ? `ifindex ${r.interfaceIndex} ${direction}` : direction;
}

/** What a checksum status adds to the text: nothing when it verified or could not be checked. */
function checksumText(status: ChecksumStatus, protocol: string): string {
  if (status === 'bad') return ` bad-${protocol}-checksum`;
  return status === 'partial' ? ' checksum not verifiable (offload)' : '';
}

/** Of a fragment that is not the first: the protocol the IP header says it carries, which it holds no header of. */
function laterFragmentText(protocol: number): string {
  return ` | ${ipProtocolName(protocol)} fragment`;
}

function ipv4Text(l: Extract<Layer, { protocol: 'ipv4' }>): string {
  const r = l.repr;
  const parts = [`${r.src} > ${r.dst}`, `ttl=${r.ttl}`, `id=${r.ident}`, `iplen=${20 + r.options.length + r.payloadLength}`];
  if (r.dontFragment) parts.push('DF');
  if (r.moreFragments) parts.push('MF');
  if (r.fragmentOffset !== 0 || r.moreFragments) parts.push(`frag-offset=${r.fragmentOffset}`);
  if (l.checksum === 'bad') parts.push('bad-ip-checksum');
  return parts.join(' ') + (r.fragmentOffset !== 0 ? laterFragmentText(r.protocol) : '');
}

function ipv6Text(l: Extract<Layer, { protocol: 'ipv6' }>): string {
  const r = l.repr;
  const parts = [`${r.src} > ${r.dst}`, `hlim=${r.hopLimit}`, `iplen=${40 + r.payloadLength}`];
  let later: number | undefined;
  for (const h of l.extensions) {
    if (h.kind === 'fragment') {
      parts.push(`frag id=${h.ident} frag-offset=${h.fragmentOffset}`);
      if (h.moreFragments) parts.push('MF');
      if (h.fragmentOffset !== 0) later = h.nextHeader;
    } else parts.push(h.kind);
  }
  return parts.join(' ') + (later === undefined ? '' : laterFragmentText(later));
}

function tcpText(l: Extract<Layer, { protocol: 'tcp' }>): string {
  const r = l.repr;
  const flags = TCP_FLAG_LETTERS.filter(([bit]) => (r.flags & bit) !== 0)
    .map(([, c]) => c)
    .join('');
  const opts = tcpOptionSummary(r.options);
  let s = `${r.srcPort} > ${r.dstPort} [${flags}] seq=${r.seq} ack=${r.ack} win=${r.window} len=${r.payloadLength}`;
  if (opts.mss !== undefined) s += ` mss=${opts.mss}`;
  return s + checksumText(l.checksum, 'tcp');
}

function layerText(l: Layer, pkt: CapturedPacket): string | undefined {
  switch (l.protocol) {
    case 'sll':
    case 'sll2':
      return cookedText(l.repr, pkt.interfaceName);
    case 'arp':
      return arpText(l.repr);
    case 'ipv4':
      return ipv4Text(l);
    case 'ipv6':
      return ipv6Text(l);
    case 'tcp':
      return tcpText(l);
    case 'tcp-head':
      return `${l.repr.srcPort} > ${l.repr.dstPort} seq=${l.repr.seq} (header cut)`;
    case 'udp':
      return `${l.repr.srcPort} > ${l.repr.dstPort} len=${l.repr.payloadLength}${checksumText(l.checksum, 'udp')}`;
    case 'icmpv4':
      return icmpv4Text(l.repr) + checksumText(l.checksum, 'icmp');
    case 'icmpv6':
      return icmpv6Text(l.repr) + checksumText(l.checksum, 'icmpv6');
    case 'vxlan':
      return `vni=${l.repr.vni}`;
    case 'gue':
      return l.repr.variant === 1 ? 'direct-ip' : `${l.repr.control ? 'ctype' : 'proto'}=${l.repr.protocol}`;
    case 'gre':
      return `proto=0x${l.repr.protocolType.toString(16).padStart(4, '0')}${l.repr.key !== undefined ? ` key=${l.repr.key}` : ''}`;
    case 'fou':
      return `proto=${l.innerProtocol}`;
    default:
      return undefined;
  }
}

export interface SummaryOptions {
  /** The largest MTU of the captured links, when the user knows it (see superPacket). */
  readonly linkMtu?: number;
}

/**
 * One line per packet: number, time, protocol stack (layers of a quoted packet in brackets), lengths,
 * then each layer's essentials, outermost first. Meant for eyes and grep, not for parsing (use --json).
 */
export function packetSummary(n: number, pkt: CapturedPacket, frame: DecodedFrame, options: SummaryOptions = {}): string {
  let stack = '';
  let inQuote = false;
  const details: string[] = [];
  for (const l of frame.layers) {
    if (l.quoted && !inQuote) {
      stack += ':[';
      details.push('[quoting');
      inQuote = true;
    } else if (stack) stack += ':';
    stack += SHORT_NAME[l.protocol];
    const t = layerText(l, pkt);
    if (t !== undefined) details.push(t);
  }
  if (inQuote) {
    stack += ']';
    details[details.length - 1] += ']';
  }
  let line = `${n} ${isoText(pkt.timestampNs)} ${stack || '-'} len=${pkt.originalLength}`;
  if (pkt.capturedLength !== pkt.originalLength) line += ` cap=${pkt.capturedLength}`;
  if (details.length) line += ` ${details.join(' | ').replace('[quoting |', '[quoting')}`;
  const huge = superPacket(frame, options.linkMtu);
  if (huge !== undefined) line += ` (GSO/GRO super-packet: iplen above ${options.linkMtu === undefined ? `${huge.limit}, the largest common MTU` : `the link MTU ${huge.limit}`})`;
  if (frame.truncated) line += ' (truncated)';
  if (frame.error) line += ` !malformed ${formatDecodeError(frame.error)}`;
  return line + '\n';
}
