/**
 * Real IP/TCP packet bytes for the engine tests, built with the codecs of src/packet so that every header, length
 * and checksum is what a kernel would queue.
 */
import { IpProtocol } from '../../src/packet/ip-protocol.js';
import { emitIpv4 } from '../../src/packet/ipv4.js';
import { emitIpv6 } from '../../src/packet/ipv6.js';
import { emitIpv6Chain, ipv6ExtProtocol, type Ipv6ExtHeaderRepr } from '../../src/packet/ipv6-ext.js';
import { emitTcp, TcpFlag } from '../../src/packet/tcp.js';
import type { TcpOption } from '../../src/packet/tcp-options.js';

export const SYN = TcpFlag.Syn;
export const ACK = TcpFlag.Ack;
export const PSH = TcpFlag.Psh;
export const FIN = TcpFlag.Fin;
export const RST = TcpFlag.Rst;

export interface TcpPacketSpec {
  readonly src: string;
  readonly dst: string;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack?: number;
  readonly flags: number;
  readonly payload?: Uint8Array;
  readonly options?: readonly TcpOption[];
  /** IPv4 only; default true, as Linux sends TCP. */
  readonly dontFragment?: boolean;
  readonly ident?: number;
  /** IPv6 only: extension headers between the fixed header and TCP (the last one's nextHeader is set to TCP). */
  readonly extensions?: readonly Ipv6ExtHeaderRepr[];
}

/** One whole IP packet (v4 or v6 from the address text) carrying one TCP segment. */
export function tcpPacket(spec: TcpPacketSpec): Uint8Array {
  const payload = spec.payload ?? new Uint8Array(0);
  const tcp = emitTcp(
    {
      srcPort: spec.srcPort,
      dstPort: spec.dstPort,
      seq: spec.seq >>> 0,
      ack: (spec.ack ?? 0) >>> 0,
      flags: spec.flags,
      window: 64240,
      urgentPointer: 0,
      options: spec.options ?? [],
      payloadLength: payload.length,
    },
    payload,
    spec.src,
    spec.dst,
  );
  if (!spec.src.includes(':')) {
    return emitIpv4(
      {
        src: spec.src,
        dst: spec.dst,
        protocol: IpProtocol.Tcp,
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: spec.ident ?? 0x4242,
        reservedFlag: false,
        dontFragment: spec.dontFragment ?? true,
        moreFragments: false,
        fragmentOffset: 0,
        options: new Uint8Array(0),
        payloadLength: tcp.length,
      },
      tcp,
    );
  }
  const extensions = spec.extensions ?? [];
  const chained = extensions.map((h, i) => ({ ...h, nextHeader: i + 1 < extensions.length ? ipv6ExtProtocol(extensions[i + 1]!) : IpProtocol.Tcp }));
  const chain = emitIpv6Chain(chained);
  const body = new Uint8Array(chain.length + tcp.length);
  body.set(chain);
  body.set(tcp, chain.length);
  return emitIpv6(
    {
      src: spec.src,
      dst: spec.dst,
      nextHeader: extensions.length > 0 ? ipv6ExtProtocol(extensions[0]!) : IpProtocol.Tcp,
      hopLimit: 64,
      trafficClass: 0,
      flowLabel: 0,
      payloadLength: body.length,
    },
    body,
  );
}


/** `n` bytes of recognisable filler (not all zero, so misplaced bytes show). */
export function filler(n: number, seed = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed * 13 + 1) & 0xff;
  return b;
}

export function ascii(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text, 'latin1'));
}

/** TCP header bytes of a packet built by tcpPacket without options: IP header length + 20. */
export const IPV4_TCP_HEADERS = 40;
export const IPV6_TCP_HEADERS = 60;
