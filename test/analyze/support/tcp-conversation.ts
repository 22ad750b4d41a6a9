/**
 * A TCP conversation built from real packet bytes (the project's emitters) for the path-MTU detector's tests: each
 * call emits one packet, numbers it as the next frame at a chosen time (milliseconds from T0) and hands its facts to
 * the detector.
 */
import { CLEAN_CAPTURE, type CaptureConditions } from '../../../src/analyze/capture-conditions.js';
import type { Detector } from '../../../src/analyze/detector.js';
import type { Finding } from '../../../src/analyze/finding.js';
import { IpProtocol } from '../../../src/packet/ip-protocol.js';
import { emitWholeIpv4 } from '../../../src/packet/ipv4.js';
import { emitIpv6 } from '../../../src/packet/ipv6.js';
import { packetTooBigQuoting } from '../../../src/packet/packet-too-big.js';
import { emitTcp, TcpFlag } from '../../../src/packet/tcp.js';
import { emitUdp } from '../../../src/packet/udp.js';
import { ipFacts, T0_US } from './facts.js';

export const HOSTS = {
  4: { client: '10.0.1.2', server: '10.0.2.2', router: '10.0.1.1' },
  6: { client: 'fd00:0:0:1::2', server: 'fd00:0:0:2::2', router: 'fd00:0:0:1::1' },
} as const;

export const CLIENT_PORT = 40_000;
export const SERVER_PORT = 80;
export const CLIENT_ISN = 1_000;
export const SERVER_ISN = 900_000;

export function ipPacket(family: 4 | 6, src: string, dst: string, protocol: number, payload: Uint8Array, df = true): Uint8Array {
  if (family === 4) return emitWholeIpv4({ src, dst, protocol, ttl: 64, ident: 1, dontFragment: df }, payload);
  return emitIpv6({ src, dst, nextHeader: protocol, hopLimit: 64, trafficClass: 0, flowLabel: 0, payloadLength: payload.length }, payload);
}

export interface SegmentOptions {
  readonly df?: boolean;
  readonly flags?: number;
  readonly srcPort?: number;
  readonly dstPort?: number;
  /** The MSS option (SYNs). */
  readonly mss?: number;
}

export class Conversation {
  frame = 0;

  constructor(
    readonly detector: Detector,
    readonly family: 4 | 6 = 4,
  ) {}

  get hosts(): { client: string; server: string; router: string } {
    return HOSTS[this.family];
  }

  /** Hands an IP packet to the detector as the next frame, `ms` after T0; returns its frame number. */
  push(ip: Uint8Array, ms: number): number {
    this.frame++;
    this.detector.observe(ipFacts(ip, this.frame, { timeUs: T0_US + Math.round(ms * 1000) }));
    return this.frame;
  }

  /** A TCP segment's IP packet with `ipLength` bytes in all (data filling the rest), from client or server. */
  segment(from: 'client' | 'server', seq: number, ack: number, ipLength: number, o: SegmentOptions = {}): Uint8Array {
    const h = this.hosts;
    const [src, dst] = from === 'client' ? [h.client, h.server] : [h.server, h.client];
    const [sp, dp] = from === 'client' ? [o.srcPort ?? CLIENT_PORT, o.dstPort ?? SERVER_PORT] : [o.srcPort ?? SERVER_PORT, o.dstPort ?? CLIENT_PORT];
    const header = this.family === 4 ? 40 : 60;
    const dataLength = Math.max(0, ipLength - header);
    const tcp = emitTcp(
      { srcPort: sp, dstPort: dp, seq, ack, flags: o.flags ?? TcpFlag.Ack, window: 500, urgentPointer: 0, options: o.mss === undefined ? [] : [{ kind: 'mss', value: o.mss }], payloadLength: dataLength },
      new Uint8Array(dataLength),
      src,
      dst,
    );
    return ipPacket(this.family, src, dst, IpProtocol.Tcp, tcp, o.df ?? true);
  }

  /** SYN, SYN-ACK, ACK at `ms`, +1, +2; the server announcing `serverMss` if given. */
  handshake(ms = 0, serverMss?: number): void {
    this.push(this.segment('client', CLIENT_ISN - 1, 0, 0, { flags: TcpFlag.Syn }), ms);
    this.push(this.segment('server', SERVER_ISN - 1, CLIENT_ISN, 0, { flags: TcpFlag.Syn | TcpFlag.Ack, mss: serverMss }), ms + 1);
    this.push(this.segment('client', CLIENT_ISN, SERVER_ISN, 0), ms + 2);
  }

  /** Client data of `ipLength` bytes at `seq`. */
  data(seq: number, ipLength: number, ms: number, o: SegmentOptions = {}): number {
    return this.push(this.segment('client', seq, SERVER_ISN, ipLength, o), ms);
  }

  /** The server acknowledges the client's data below `ack`. */
  ack(ack: number, ms: number): number {
    return this.push(this.segment('server', SERVER_ISN, ack, 0), ms);
  }

  /** Packet Too Big from the router to the client, quoting `quoted` (the offending packet's bytes). */
  packetTooBig(quoted: Uint8Array, mtu: number, ms: number, from = this.hosts.router): number {
    const limit = this.family === 4 ? 548 : 1232;
    return this.push(packetTooBigQuoting(this.family, from, this.hosts.client, quoted.subarray(0, Math.min(limit, quoted.length)), mtu, 9), ms);
  }

  udp(from: 'client' | 'server', payloadLength: number, srcPort = 5353, dstPort = 53): Uint8Array {
    const h = this.hosts;
    const [src, dst] = from === 'client' ? [h.client, h.server] : [h.server, h.client];
    const udp = emitUdp({ srcPort, dstPort, payloadLength }, new Uint8Array(payloadLength), src, dst);
    return ipPacket(this.family, src, dst, IpProtocol.Udp, udp);
  }

  report(conditions: CaptureConditions = CLEAN_CAPTURE, nowMs?: number): Finding[] {
    return this.detector.report({ nowUs: T0_US + Math.round((nowMs ?? this.frame * 1000) * 1000), conditions, final: true });
  }
}

/** Payload bytes of a client segment of `ipLength` bytes. */
export function dataOf(family: 4 | 6, ipLength: number): number {
  return ipLength - (family === 4 ? 40 : 60);
}
