/** Tunnel packets for encapsulation tests, built with the project's emitters: inner TCP wrapped in each tunnel kind. */
import type { TunnelKind } from '../../../src/analyze/packet-facts.js';
import { emitEthernet } from '../../../src/packet/ethernet.js';
import { emitGre } from '../../../src/packet/gre.js';
import { emitGue, GUE_PORT } from '../../../src/packet/gue.js';
import { EtherType, IpProtocol } from '../../../src/packet/ip-protocol.js';
import { emitIpv4 } from '../../../src/packet/ipv4.js';
import { emitIpv6 } from '../../../src/packet/ipv6.js';
import { emitTcp, TcpFlag } from '../../../src/packet/tcp.js';
import { emitUdp } from '../../../src/packet/udp.js';
import { emitVxlan, VXLAN_PORT } from '../../../src/packet/vxlan.js';

export const FOU_PORT = 5555;
export const INNER = { client: '10.1.0.2', service: '10.99.0.1' } as const;
export const OUTER4 = { lb: '10.0.2.1', server: '10.0.2.2', router: '10.0.2.254' } as const;
export const OUTER6 = { lb: 'fd00:2::1', server: 'fd00:2::2', router: 'fd00:2::fe' } as const;

/** Overhead of each kind over an IPv4 outer header (an IPv6 outer header adds 20). */
export const OVERHEAD4: Readonly<Record<TunnelKind, number>> = { vxlan: 50, gue: 32, fou: 28, gre: 24, 'ip-in-ip': 20 };

export interface SegmentSpec {
  readonly seq: number;
  /** Payload bytes: the inner IP packet is 40 bytes longer. */
  readonly length: number;
  readonly ack?: number;
  readonly flags?: number;
  readonly srcPort?: number;
  readonly dstPort?: number;
  readonly src?: string;
  readonly dst?: string;
}

export interface Ipv4Extra {
  readonly ident?: number;
  readonly dontFragment?: boolean;
  readonly moreFragments?: boolean;
  readonly fragmentOffset?: number;
}

export function ip4(src: string, dst: string, protocol: number, payload: Uint8Array, extra: Ipv4Extra = {}): Uint8Array {
  return emitIpv4(
    {
      src, dst, protocol, ttl: 64, dscp: 0, ecn: 0, ident: extra.ident ?? 1, reservedFlag: false, dontFragment: extra.dontFragment ?? true,
      moreFragments: extra.moreFragments ?? false, fragmentOffset: extra.fragmentOffset ?? 0, options: new Uint8Array(0), payloadLength: payload.length,
    },
    payload,
  );
}

export function ip6(src: string, dst: string, nextHeader: number, payload: Uint8Array): Uint8Array {
  return emitIpv6({ src, dst, nextHeader, hopLimit: 64, trafficClass: 0, flowLabel: 0, payloadLength: payload.length }, payload);
}

/** An inner IPv4 TCP segment (client → service by default). */
export function innerSegment(s: SegmentSpec): Uint8Array {
  const src = s.src ?? INNER.client;
  const dst = s.dst ?? INNER.service;
  const payload = new Uint8Array(s.length).fill(0x61);
  const t = emitTcp(
    { srcPort: s.srcPort ?? 40000, dstPort: s.dstPort ?? 8080, seq: s.seq, ack: s.ack ?? 1, flags: s.flags ?? TcpFlag.Ack | TcpFlag.Psh, window: 500, urgentPointer: 0, options: [], payloadLength: s.length },
    payload, src, dst,
  );
  return ip4(src, dst, IpProtocol.Tcp, t);
}

/** `inner` (an IPv4 packet) wrapped in `kind` between `src` and `dst` (outer family from the address text). */
export function encapsulate(kind: TunnelKind, inner: Uint8Array, src: string, dst: string, extra: Ipv4Extra = {}): Uint8Array {
  const v6 = src.includes(':');
  const outer = (protocol: number, payload: Uint8Array): Uint8Array => (v6 ? ip6(src, dst, protocol, payload) : ip4(src, dst, protocol, payload, extra));
  const overUdp = (port: number, payload: Uint8Array): Uint8Array => outer(IpProtocol.Udp, emitUdp({ srcPort: 50000, dstPort: port, payloadLength: payload.length }, payload, src, dst));
  switch (kind) {
    case 'vxlan': {
      const frame = emitEthernet({ dst: '02:00:00:00:00:0b', src: '02:00:00:00:00:0a', vlans: [], etherType: EtherType.Ipv4 }, inner);
      return overUdp(VXLAN_PORT, emitVxlan({ flags: 0x08, vni: 42, reserved1: 0, reserved2: 0 }, frame));
    }
    case 'gue':
      return overUdp(GUE_PORT, emitGue({ variant: 0, control: false, protocol: IpProtocol.IpInIp, flags: 0, extensions: new Uint8Array(0) }, inner));
    case 'fou':
      return overUdp(FOU_PORT, inner);
    case 'gre':
      return outer(IpProtocol.Gre, emitGre({ checksumPresent: false, protocolType: EtherType.Ipv4, reserved0: 0, reserved1: 0 }, inner));
    case 'ip-in-ip':
      return outer(IpProtocol.IpInIp, inner);
  }
}
