/** TCP segments as IP packets, built with the project's emitters, for detector tests. */
import { emitIpv6 } from '../../../src/packet/ipv6.js';
import { emitWholeIpv4 } from '../../../src/packet/ipv4.js';
import { IpProtocol } from '../../../src/packet/ip-protocol.js';
import { type TcpOption } from '../../../src/packet/tcp-options.js';
import { emitTcp, TcpFlag } from '../../../src/packet/tcp.js';

export interface Segment {
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
  readonly seq: number;
  readonly ack?: number;
  readonly flags?: number;
  readonly mss?: number;
  readonly payload?: number;
  readonly ttl?: number;
}

export const SYN = TcpFlag.Syn;
export const SYN_ACK = TcpFlag.Syn | TcpFlag.Ack;
export const ACK = TcpFlag.Ack;

export function segment(s: Segment): Uint8Array {
  const options: TcpOption[] = s.mss === undefined ? [] : [{ kind: 'mss', value: s.mss }];
  const payload = new Uint8Array(s.payload ?? 0).fill(0x61);
  const tcp = emitTcp(
    { srcPort: s.sport, dstPort: s.dport, seq: s.seq >>> 0, ack: (s.ack ?? 0) >>> 0, flags: s.flags ?? ACK, window: 65535, urgentPointer: 0, options, payloadLength: payload.length },
    payload,
    s.src,
    s.dst,
  );
  if (s.src.includes(':')) {
    return emitIpv6({ src: s.src, dst: s.dst, nextHeader: IpProtocol.Tcp, hopLimit: s.ttl ?? 64, trafficClass: 0, flowLabel: 0, payloadLength: tcp.length }, tcp);
  }
  return emitWholeIpv4({ src: s.src, dst: s.dst, protocol: IpProtocol.Tcp, ttl: s.ttl ?? 64, ident: 1, dontFragment: true }, tcp);
}
