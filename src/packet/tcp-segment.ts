import { ipv4Text, ipv6Text } from './address-text.js';
import { IpProtocol } from './ip-protocol.js';
import { Ipv4Packet } from './ipv4.js';
import { Ipv6Packet } from './ipv6.js';
import { type Ipv6ExtHeaderRepr, ipv6ExtHeaderLength, walkIpv6Extensions } from './ipv6-ext.js';
import { type DecodeError, fail, ok, type Decoded } from './result.js';
import { TcpPacket, TcpFlag } from './tcp.js';
import { parseTcpOptions } from './tcp-options.js';
import type { IpFamily } from './ip-family.js';

/**
 * What the checker's engine and the prober need to know of one queued IP packet carrying TCP: addresses, ports,
 * sequence space, sizes and the few options that matter. `bytes` is the whole packet as the kernel queued it (a view, not a copy).
 */
export interface TcpSegment {
  readonly family: IpFamily;
  readonly bytes: Uint8Array;
  readonly src: string;
  readonly dst: string;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  readonly flags: number;
  /** Size of the IP packet on the wire, header included. */
  readonly ipLength: number;
  readonly payloadLength: number;
  /** The TCP payload bytes (the request line of an HTTP request is read from here). */
  readonly payload: Uint8Array;
  /** IPv4 DF; always true for IPv6, where routers never fragment. */
  readonly dontFragment: boolean;
  /** MSS option (SYN only); undefined when absent. */
  readonly mss: number | undefined;
}

export const SYN = TcpFlag.Syn;
export const ACK = TcpFlag.Ack;
export const FIN = TcpFlag.Fin;
export const RST = TcpFlag.Rst;

/**
 * Parses a packet from the queue. Anything the engine must not act on — another protocol, a fragment, a cut or
 * malformed header, extension headers we do not walk past — is an error value; the caller accepts such packets
 * untouched and counts them.
 */
export function parseTcpSegment(bytes: Uint8Array): Decoded<TcpSegment> {
  if (bytes.length === 0) return fail('ip', 'version', 0, 'empty packet');
  const version = bytes[0]! >> 4;
  if (version === 4) return parseV4(bytes);
  if (version === 6) return parseV6(bytes);
  return fail('ip', 'version', 0, `version ${version} is neither 4 nor 6`);
}

function parseV4(bytes: Uint8Array): Decoded<TcpSegment> {
  const checked = Ipv4Packet.check(bytes);
  if (!checked.ok) return checked;
  const ip = checked.value;
  if (ip.truncated) return fail('ipv4', 'total_length', 2, `total length ${ip.totalLength} is beyond the ${bytes.length} bytes queued`);
  if (ip.protocol !== IpProtocol.Tcp) return fail('ipv4', 'protocol', 9, `protocol ${ip.protocol} is not TCP`);
  if (ip.isFragment) return fail('ipv4', 'fragment_offset', 6, 'a fragment');
  const tcp = tcpPart(ip.payload(), ip.headerLength);
  if (!tcp.ok) return tcp;
  return ok({
    family: 4,
    bytes,
    src: ipv4Text(bytes, 12),
    dst: ipv4Text(bytes, 16),
    ...tcp.value,
    ipLength: ip.totalLength,
    dontFragment: ip.dontFragment,
  });
}

function parseV6(bytes: Uint8Array): Decoded<TcpSegment> {
  const checked = Ipv6Packet.check(bytes);
  if (!checked.ok) return checked;
  const ip = checked.value;
  if (ip.truncated) return fail('ipv6', 'payload_length', 4, `payload length ${ip.payloadLength} is beyond the ${bytes.length - 40} bytes queued`);
  const chain = walkIpv6Extensions(ip);
  if (!chain.ok) return chain;
  const c = chain.value;
  if (c.fragment !== undefined) return fail('ipv6', 'fragment', fragmentHeaderOffset(c.headers), 'a fragment');
  if (!c.upperPresent || c.upperProtocol !== IpProtocol.Tcp) {
    return fail('ipv6', 'next_header', 6, `upper-layer protocol ${c.upperProtocol} is not TCP`);
  }
  const end = 40 + ip.payloadLength;
  const tcp = tcpPart(bytes.subarray(c.upperOffset, end), c.upperOffset);
  if (!tcp.ok) return tcp;
  return ok({
    family: 6,
    bytes,
    src: ipv6Text(bytes, 8),
    dst: ipv6Text(bytes, 24),
    ...tcp.value,
    ipLength: end,
    dontFragment: true,
  });
}

/** Where the Fragment header starts: the walk's upperOffset is past it (and past any headers after it). */
function fragmentHeaderOffset(headers: readonly Ipv6ExtHeaderRepr[]): number {
  let o = 40;
  for (const h of headers) {
    if (h.kind === 'fragment') break;
    o += ipv6ExtHeaderLength(h);
  }
  return o;
}

type TcpPart = Pick<TcpSegment, 'srcPort' | 'dstPort' | 'seq' | 'ack' | 'flags' | 'payloadLength' | 'payload' | 'mss'>;

function tcpPart(segment: Uint8Array, base: number): Decoded<TcpPart> {
  const checked = TcpPacket.check(segment, segment.length);
  if (!checked.ok) return { ok: false, error: rebased(checked.error, base) };
  const t = checked.value;
  let mss: number | undefined;
  if ((t.flags & SYN) !== 0) {
    const options = parseTcpOptions(t.options(), 20);
    if (!options.ok) return { ok: false, error: rebased(options.error, base) };
    for (const o of options.value) if (o.kind === 'mss') mss ??= o.value;
  }
  return ok({
    srcPort: t.srcPort,
    dstPort: t.dstPort,
    seq: t.seq,
    ack: t.ack,
    flags: t.flags,
    payloadLength: t.payloadLength,
    payload: t.payload(),
    mss,
  });
}

function rebased(e: DecodeError, base: number): DecodeError {
  return { ...e, offset: e.offset + base };
}
