import type { CapturedPacket } from '../capture/captured-packet.js';
import type { DecodedFrame, Layer } from '../packet/frame.js';
import type { Icmpv4Repr } from '../packet/icmpv4.js';
import type { Icmpv6Repr } from '../packet/icmpv6.js';
import { formatDecodeError } from '../packet/result.js';
import { tcpOptionSummary } from '../packet/tcp-options.js';
import { isoText } from './time-text.js';

const SHORT_NAME: Readonly<Record<Layer['protocol'], string>> = {
  ethernet: 'eth',
  sll: 'sll',
  sll2: 'sll2',
  null: 'null',
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
    case 'other':
      return `type=${r.type} code=${r.code}`;
  }
}

function layerText(l: Layer): string | undefined {
  switch (l.protocol) {
    case 'ipv4': {
      const r = l.repr;
      const parts = [`${r.src} > ${r.dst}`, `ttl=${r.ttl}`, `id=${r.ident}`, `iplen=${20 + r.options.length + r.payloadLength}`];
      if (r.dontFragment) parts.push('DF');
      if (r.moreFragments) parts.push('MF');
      if (r.fragmentOffset !== 0 || r.moreFragments) parts.push(`frag-offset=${r.fragmentOffset}`);
      if (l.checksum === 'bad') parts.push('bad-ip-checksum');
      return parts.join(' ');
    }
    case 'ipv6': {
      const r = l.repr;
      const parts = [`${r.src} > ${r.dst}`, `hlim=${r.hopLimit}`, `iplen=${40 + r.payloadLength}`];
      for (const h of l.extensions) {
        if (h.kind === 'fragment') {
          parts.push(`frag id=${h.ident} frag-offset=${h.fragmentOffset}`);
          if (h.moreFragments) parts.push('MF');
        } else parts.push(h.kind);
      }
      return parts.join(' ');
    }
    case 'tcp': {
      const r = l.repr;
      const flags = TCP_FLAG_LETTERS.filter(([bit]) => (r.flags & bit) !== 0)
        .map(([, c]) => c)
        .join('');
      const opts = tcpOptionSummary(r.options);
      let s = `${r.srcPort} > ${r.dstPort} [${flags}] seq=${r.seq} ack=${r.ack} win=${r.window} len=${r.payloadLength}`;
      if (opts.mss !== undefined) s += ` mss=${opts.mss}`;
      if (l.checksum === 'bad') s += ' bad-tcp-checksum';
      return s;
    }
    case 'tcp-head':
      return `${l.repr.srcPort} > ${l.repr.dstPort} seq=${l.repr.seq} (header cut)`;
    case 'udp':
      return `${l.repr.srcPort} > ${l.repr.dstPort} len=${l.repr.payloadLength}${l.checksum === 'bad' ? ' bad-udp-checksum' : ''}`;
    case 'icmpv4':
      return icmpv4Text(l.repr) + (l.checksum === 'bad' ? ' bad-icmp-checksum' : '');
    case 'icmpv6':
      return icmpv6Text(l.repr) + (l.checksum === 'bad' ? ' bad-icmpv6-checksum' : '');
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

/**
 * One line per packet: number, time, protocol stack (layers of a quoted packet in brackets), lengths,
 * then each layer's essentials, outermost first. Meant for eyes and grep, not for parsing (use --json).
 */
export function packetSummary(n: number, pkt: CapturedPacket, frame: DecodedFrame): string {
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
    const t = layerText(l);
    if (t !== undefined) details.push(t);
  }
  if (inQuote) {
    stack += ']';
    details[details.length - 1] += ']';
  }
  let line = `${n} ${isoText(pkt.timestampNs)} ${stack || '-'} len=${pkt.originalLength}`;
  if (pkt.capturedLength !== pkt.originalLength) line += ` cap=${pkt.capturedLength}`;
  if (details.length) line += ` ${details.join(' | ').replace('[quoting |', '[quoting')}`;
  if (frame.truncated) line += ' (truncated)';
  if (frame.error) line += ` !malformed ${formatDecodeError(frame.error)}`;
  return line + '\n';
}
