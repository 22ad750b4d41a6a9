import { ipBytes } from '../packet/address.js';
import { put16 } from '../packet/bytes.js';
import { finishChecksum, pseudoHeaderSum, sum16 } from '../packet/checksum.js';
import { emitIcmpv4 } from '../packet/icmpv4.js';
import { emitIcmpv6 } from '../packet/icmpv6.js';
import type { IpFamily } from '../packet/ip-family.js';
import { IpProtocol } from '../packet/ip-protocol.js';
import { emitWholeIpv4, IPV4_MIN_HEADER } from '../packet/ipv4.js';
import { emitIpv6, IPV6_HEADER } from '../packet/ipv6.js';
import { emitTcp, TCP_MIN_HEADER, TcpFlag } from '../packet/tcp.js';
import { emitTcpOptions, type TcpOption } from '../packet/tcp-options.js';
import { emitUdp, UDP_HEADER } from '../packet/udp.js';

/**
 * Builders of whole IP packets (header included) for the prober's probes, pure. Every probe of a run belongs to one
 * flow (`ProbeFlow`: addresses, ports, echo identifier), kept constant so that every probe of a run hashes onto the
 * same ECMP path (the Paris-traceroute idea), and carries its probe number (`ProbeSpec.id`, 1..65534) where a
 * router's ICMP error quotes it even when it quotes only the IP header and 8 bytes (RFC 792):
 *
 * - UDP: in the UDP checksum (bytes 6-7): two payload bytes are chosen so that the checksum equals the probe number;
 * - ICMP / ICMPv6 echo: in the sequence number;
 * - TCP: in the sequence number, `id << 16`, so that the acknowledgment number of the destination's SYN-ACK or RST
 *   (our sequence number + 1 + data bytes) still gives it back: `probeIdOfAck`.
 *
 * IPv4 probes also carry the probe number in the identification field, for a second check.
 */

export type ProbeProtocol = 'udp' | 'icmp' | 'tcp';

export const PROBE_PROTOCOLS: readonly ProbeProtocol[] = ['udp', 'icmp', 'tcp'];

/** What every probe of a run shares. */
export interface ProbeFlow {
  readonly family: IpFamily;
  readonly protocol: ProbeProtocol;
  /** Our address, the one the kernel would use toward `destination` (the checksums cover it). */
  readonly source: string;
  readonly destination: string;
  /** UDP and TCP source port (one per run, which tells our replies from other programs'). */
  readonly srcPort: number;
  /** UDP and TCP destination port. */
  readonly dstPort: number;
  /** ICMP echo identifier (one per run). */
  readonly echoIdent: number;
}

/** The TCP SYN's fields beyond ports and sequence number; each option is left out when undefined. */
export interface TcpSynFields {
  readonly window?: number;
  readonly mss?: number;
  readonly windowScale?: number;
  readonly sackPermitted?: boolean;
  readonly timestamps?: { readonly value: number; readonly echo: number };
}

/** One probe. */
export interface ProbeSpec {
  /** Probe number, 1..65534 (0 and 65535 are the two spellings of a zero checksum). */
  readonly id: number;
  /** Total IP packet size in bytes, headers included. */
  readonly size: number;
  /** IPv4 TTL / IPv6 hop limit. */
  readonly ttl: number;
  /** IPv4 only: Don't Fragment, default true (IPv6 routers never fragment). */
  readonly dontFragment?: boolean;
  readonly dscp?: number;
  readonly ecn?: number;
  /** IPv4 identification; default the probe number. */
  readonly ipv4Ident?: number;
  /** IPv6 flow label; default 0. */
  readonly flowLabel?: number;
  /** TCP probes: window and options of the SYN (default: window 64240 and MSS 1460 alone). */
  readonly tcp?: TcpSynFields;
}

export const MIN_PROBE_ID = 1;
export const MAX_PROBE_ID = 0xfffe;

export const DEFAULT_TCP_SYN: TcpSynFields = { window: 64240, mss: 1460 };

function ipHeaderLength(family: IpFamily): number {
  return family === 4 ? IPV4_MIN_HEADER : IPV6_HEADER;
}

/** The TCP options of a SYN, in the order Linux sends them (MSS, SACK permitted, timestamps, window scale). */
export function tcpSynOptions(fields: TcpSynFields): TcpOption[] {
  const options: TcpOption[] = [];
  if (fields.mss !== undefined) options.push({ kind: 'mss', value: fields.mss });
  if (fields.sackPermitted === true) options.push({ kind: 'sack-permitted' });
  if (fields.timestamps !== undefined) options.push({ kind: 'timestamps', ...fields.timestamps });
  if (fields.windowScale !== undefined) options.push({ kind: 'nop' }, { kind: 'window-scale', shift: fields.windowScale });
  return options;
}

/** The smallest total size a probe of this flow (and these TCP options) can have. */
export function minimumProbeSize(flow: ProbeFlow, tcp: TcpSynFields = DEFAULT_TCP_SYN): number {
  const ip = ipHeaderLength(flow.family);
  switch (flow.protocol) {
    case 'udp':
      return ip + UDP_HEADER + 2; // two bytes that set the checksum
    case 'icmp':
      return ip + 8;
    case 'tcp':
      return ip + TCP_MIN_HEADER + emitTcpOptions(tcpSynOptions(tcp)).length;
  }
}

/** The TCP sequence number of probe `id`. */
export function tcpSeqOfProbe(id: number): number {
  return (id * 0x10000) >>> 0;
}

/**
 * The probe number an acknowledgment number answers (our sequence number + 1 for the SYN + data bytes; data bytes are
 * always fewer than 65535). Undefined when it cannot be one of ours.
 */
export function probeIdOfAck(ack: number): number | undefined {
  const id = Math.floor(((ack - 1) >>> 0) / 0x10000);
  return id >= MIN_PROBE_ID && id <= MAX_PROBE_ID ? id : undefined;
}

/** The probe number a TCP sequence number carries; undefined when it cannot be one of ours. */
export function probeIdOfSeq(seq: number): number | undefined {
  if ((seq & 0xffff) !== 0) return undefined;
  const id = seq >>> 16;
  return id >= MIN_PROBE_ID && id <= MAX_PROBE_ID ? id : undefined;
}

/**
 * The largest packet the family's length fields can describe (IPv4 Total Length, IPv6 Payload Length plus its header;
 * no jumbograms): a device MTU above it (loopback has 65536) cannot be probed at its full size.
 */
export function maximumProbeSize(family: IpFamily): number {
  return family === 4 ? 0xffff : 0xffff + IPV6_HEADER;
}

/** Builds probe `spec` of `flow` as a whole IP packet of exactly `spec.size` bytes; RangeError when it cannot be. */
export function buildProbe(flow: ProbeFlow, spec: ProbeSpec): Uint8Array {
  if (!Number.isInteger(spec.id) || spec.id < MIN_PROBE_ID || spec.id > MAX_PROBE_ID) {
    throw new RangeError(`probe number ${spec.id} is outside ${MIN_PROBE_ID}..${MAX_PROBE_ID}`);
  }
  const tcp = spec.tcp ?? DEFAULT_TCP_SYN;
  const min = minimumProbeSize(flow, tcp);
  const max = maximumProbeSize(flow.family);
  if (!Number.isInteger(spec.size) || spec.size < min || spec.size > max) {
    throw new RangeError(`a ${flow.protocol} probe over IPv${flow.family} has ${min}..${max} bytes, not ${spec.size}`);
  }
  const transportLength = spec.size - ipHeaderLength(flow.family);
  let transport: Uint8Array;
  let protocol: number;
  switch (flow.protocol) {
    case 'udp':
      transport = udpProbe(flow, spec.id, transportLength);
      protocol = IpProtocol.Udp;
      break;
    case 'icmp': {
      const data = fill(transportLength - 8, spec.id);
      const echo = { kind: 'echo-request', ident: flow.echoIdent, seq: spec.id, data } as const;
      transport = flow.family === 4 ? emitIcmpv4(echo) : emitIcmpv6(echo, flow.source, flow.destination);
      protocol = flow.family === 4 ? IpProtocol.Icmp : IpProtocol.Icmpv6;
      break;
    }
    case 'tcp': {
      const options = tcpSynOptions(tcp);
      const headerLength = TCP_MIN_HEADER + emitTcpOptions(options).length;
      const payload = fill(transportLength - headerLength, spec.id);
      const repr = {
        srcPort: flow.srcPort,
        dstPort: flow.dstPort,
        seq: tcpSeqOfProbe(spec.id),
        ack: 0,
        flags: TcpFlag.Syn,
        window: tcp.window ?? 64240,
        urgentPointer: 0,
        options,
        payloadLength: payload.length,
      };
      transport = emitTcp(repr, payload, flow.source, flow.destination);
      protocol = IpProtocol.Tcp;
      break;
    }
  }
  if (flow.family === 4) {
    return emitWholeIpv4(
      {
        src: flow.source,
        dst: flow.destination,
        protocol,
        ttl: spec.ttl,
        dscp: spec.dscp ?? 0,
        ecn: spec.ecn ?? 0,
        ident: spec.ipv4Ident ?? spec.id,
        dontFragment: spec.dontFragment ?? true,
      },
      transport,
    );
  }
  return emitIpv6(
    {
      src: flow.source,
      dst: flow.destination,
      nextHeader: protocol,
      hopLimit: spec.ttl,
      trafficClass: ((spec.dscp ?? 0) << 2) | (spec.ecn ?? 0),
      flowLabel: spec.flowLabel ?? 0,
      payloadLength: transport.length,
    },
    transport,
  );
}

/** Payload bytes: a recognisable pattern (the probe number's low byte then counting), never all zeros. */
function fill(length: number, id: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (id + i) & 0xff;
  return out;
}

/**
 * A UDP datagram whose checksum is the probe number: the first two payload bytes are solved for so that the
 * one's-complement sum comes out right (adding x to the sum turns checksum ~s into ~(s + x)).
 */
function udpProbe(flow: ProbeFlow, id: number, length: number): Uint8Array {
  const payload = fill(length - UDP_HEADER, id);
  payload[0] = 0;
  payload[1] = 0;
  const datagram = emitUdp({ srcPort: flow.srcPort, dstPort: flow.dstPort, payloadLength: payload.length }, payload, flow.source, flow.destination);
  put16(datagram, 6, 0);
  const family = flow.family;
  const pseudo = pseudoHeaderSum(ipBytes(flow.source, family), ipBytes(flow.destination, family), IpProtocol.Udp, length);
  // finishChecksum(s) = ~fold(s); we want ~fold(s + x) = id, so fold(s + x) = ~id, x = ~id - fold(s) (one's complement).
  const folded = (~finishChecksum(sum16(datagram, 0, length, pseudo))) & 0xffff;
  const want = ~id & 0xffff;
  let x = want - folded;
  if (x < 0) x += 0xffff;
  put16(datagram, UDP_HEADER, x);
  put16(datagram, 6, finishChecksum(sum16(datagram, 0, length, pseudo)));
  return datagram;
}
