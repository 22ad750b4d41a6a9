/**
 * A small capture whose marker findings (marker-detector.ts) are known frame by frame, for the output tests of
 * `mtuscope analyze`: two pcapng interfaces (eth0, Ethernet; an unnamed raw-IP one, "#1"), times that are not evenly
 * spaced, and every kind of marker.
 */
import { openCaptureWriter } from '../../../src/capture/writer.js';
import { emitIcmpv4 } from '../../../src/packet/icmpv4.js';
import { EtherType, IpProtocol } from '../../../src/packet/ip-protocol.js';
import { LinkType } from '../../../src/packet/link-type.js';
import { eth, ipv4, ipv6, tcp, udp, V4, V6 } from '../../support/sample-frames.js';

export interface FixtureFrame {
  readonly interfaceId: number;
  readonly data: Uint8Array;
  readonly timeNs: bigint;
  readonly originalLength?: number;
}

export const FIXTURE_T0_NS = 1_765_000_000_000_000_000n;

function fill(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
}

/**
 * Frames (1-based):
 *  1 eth0 TCP SYN client → server                        (no marker)
 *  2 eth0 TCP seq 1000 len 1448 DF client → server       pmtu-blackhole
 *  3 eth0 UDP 5353 → 53                                  (clean flow)
 *  4 eth0 TCP seq 1000 len 1448 DF again                 pmtu-blackhole
 *  5 #1   ICMP fragmentation needed MTU 1400 quoting 2   ptb-honoured
 *  6 eth0 IPv4 fragment offset 0 MF ident 7              fragment-tiny
 *  7 eth0 IPv4 fragment offset 1480 ident 7              fragment-tiny
 *  8 eth0 TCP ACK server → client                        (no marker)
 *  9 eth0 UDP cut by the snaplen                         capture-caveat
 * 10 #1   IPv6 UDP                                       (clean flow)
 */
export function fixtureFrames(): FixtureFrame[] {
  const seg = tcp({ seq: 1000, flags: 0x018 }, fill(1448, 1), V4.client, V4.server);
  const big = ipv4({ protocol: IpProtocol.Tcp }, seg);
  const dgram = udp(5000, 6000, fill(2992, 2), V4.client, V4.server);
  const ptb = emitIcmpv4({ kind: 'destination-unreachable', code: 4, unused: 0, nextHopMtu: 1400, quoted: big.subarray(0, 548) });
  const at = (ms: number): bigint => FIXTURE_T0_NS + BigInt(Math.round(ms * 1_000_000));
  const snapped = eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Udp, dontFragment: false }, udp(7000, 7001, fill(400, 3), V4.client, V4.server)));
  return [
    { interfaceId: 0, timeNs: at(0), data: eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Tcp }, tcp({ seq: 999, flags: 0x002 }, new Uint8Array(0), V4.client, V4.server))) },
    { interfaceId: 0, timeNs: at(12.5), data: eth(EtherType.Ipv4, big) },
    { interfaceId: 0, timeNs: at(13), data: eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Udp, dontFragment: false }, udp(5353, 53, fill(60, 4), V4.client, V4.server))) },
    { interfaceId: 0, timeNs: at(212.5), data: eth(EtherType.Ipv4, big) },
    { interfaceId: 1, timeNs: at(212.75), data: ipv4({ protocol: IpProtocol.Icmp, src: V4.router, dst: V4.client, dontFragment: false }, ptb) },
    { interfaceId: 0, timeNs: at(300), data: eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Udp, dontFragment: false, moreFragments: true, ident: 7 }, dgram.subarray(0, 1480))) },
    { interfaceId: 0, timeNs: at(300.1), data: eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Udp, dontFragment: false, fragmentOffset: 1480, ident: 7 }, dgram.subarray(1480))) },
    { interfaceId: 0, timeNs: at(400), data: eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Tcp, src: V4.server, dst: V4.client }, tcp({ srcPort: 80, dstPort: 40000, seq: 2000, ack: 1000, flags: 0x010 }, new Uint8Array(0), V4.server, V4.client))) },
    { interfaceId: 0, timeNs: at(500), data: snapped.subarray(0, 96), originalLength: snapped.length },
    { interfaceId: 1, timeNs: at(1500), data: ipv6({ nextHeader: IpProtocol.Udp }, udp(4000, 4001, fill(100, 5), V6.client, V6.server)) },
  ];
}

/** The marker findings of the fixture, as (kind, severity, evidence frames), in the analyzer's order (first evidence time). */
export const FIXTURE_FINDINGS = [
  { kind: 'pmtu-blackhole', severity: 'error', frames: [2, 4] },
  { kind: 'ptb-honoured', severity: 'info', frames: [5] },
  { kind: 'fragment-tiny', severity: 'warning', frames: [6, 7] },
  { kind: 'capture-caveat', severity: 'info', frames: [9] },
] as const;

/** Writes the fixture as pcapng (nanosecond timestamps on eth0, microseconds on the raw-IP interface). */
export async function writeFixture(path: string, frames: readonly FixtureFrame[] = fixtureFrames()): Promise<void> {
  const w = openCaptureWriter(path, { format: 'pcapng', interfaces: [{ linkType: LinkType.Ethernet, name: 'eth0', tsresol: 9 }, { linkType: LinkType.Raw }] });
  for (const f of frames) {
    await w.write({ timestampNs: f.timeNs, data: f.data, interfaceId: f.interfaceId, ...(f.originalLength === undefined ? {} : { originalLength: f.originalLength }) });
  }
  await w.close();
}
