import { emitEthernet } from '../../src/packet/ethernet.js';
import { emitGre } from '../../src/packet/gre.js';
import { emitGue } from '../../src/packet/gue.js';
import { emitIcmpv4 } from '../../src/packet/icmpv4.js';
import { emitIcmpv6 } from '../../src/packet/icmpv6.js';
import { EtherType, IpProtocol } from '../../src/packet/ip-protocol.js';
import { emitIpv4, emitIpv4Options, type Ipv4Repr } from '../../src/packet/ipv4.js';
import { emitIpv6, type Ipv6Repr } from '../../src/packet/ipv6.js';
import { emitIpv6Chain, type Ipv6ExtHeaderRepr } from '../../src/packet/ipv6-ext.js';
import { LinkType } from '../../src/packet/link-type.js';
import { emitTcp, type TcpRepr } from '../../src/packet/tcp.js';
import { emitUdp } from '../../src/packet/udp.js';
import { emitVxlan } from '../../src/packet/vxlan.js';

/** A frame with its link type and a label saying what it is, for frame-decoder tests, fuzzing and benchmarks. */
export interface SampleFrame {
  readonly name: string;
  readonly linkType: number;
  readonly data: Uint8Array;
  /** The protocol stack the decoder must find, outermost first; quoted layers in brackets. */
  readonly stack: string;
}

export const V4 = { client: '10.1.0.2', server: '10.2.0.2', router: '10.1.0.1' };
export const V6 = { client: 'fd00:1::2', server: 'fd00:2::2', router: 'fd00:1::1' };

const MAC_A = '02:00:00:00:00:0a';
const MAC_B = '02:00:00:00:00:0b';

function bytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

export function ipv4(over: Partial<Ipv4Repr> & { protocol: number }, payload: Uint8Array): Uint8Array {
  const repr: Ipv4Repr = {
    src: V4.client,
    dst: V4.server,
    ttl: 64,
    dscp: 0,
    ecn: 0,
    ident: 0x1234,
    reservedFlag: false,
    dontFragment: true,
    moreFragments: false,
    fragmentOffset: 0,
    options: new Uint8Array(0),
    payloadLength: payload.length,
    ...over,
  };
  return emitIpv4(repr, payload);
}

export function ipv6(over: Partial<Ipv6Repr> & { nextHeader: number }, payload: Uint8Array): Uint8Array {
  const repr: Ipv6Repr = { src: V6.client, dst: V6.server, hopLimit: 64, trafficClass: 0, flowLabel: 0x12345, payloadLength: payload.length, ...over };
  return emitIpv6(repr, payload);
}

export function eth(etherType: number, payload: Uint8Array, vlans: { vid: number }[] = []): Uint8Array {
  return emitEthernet(
    { dst: MAC_B, src: MAC_A, vlans: vlans.map((v) => ({ tpid: 0x8100, pcp: 0, dei: false, vid: v.vid })), etherType },
    payload,
  );
}

export function tcp(over: Partial<TcpRepr>, payload: Uint8Array, src: string, dst: string): Uint8Array {
  const repr: TcpRepr = {
    srcPort: 40000,
    dstPort: 80,
    seq: 1000,
    ack: 2000,
    flags: 0x018,
    window: 502,
    urgentPointer: 0,
    options: [],
    payloadLength: payload.length,
    ...over,
  };
  return emitTcp(repr, payload, src, dst);
}

export function udp(srcPort: number, dstPort: number, payload: Uint8Array, src: string, dst: string): Uint8Array {
  return emitUdp({ srcPort, dstPort, payloadLength: payload.length }, payload, src, dst);
}

const SYN_OPTIONS: TcpRepr['options'] = [
  { kind: 'mss', value: 1460 },
  { kind: 'sack-permitted' },
  { kind: 'timestamps', value: 123456, echo: 0 },
  { kind: 'nop' },
  { kind: 'window-scale', shift: 7 },
];

export function sampleFrames(): SampleFrame[] {
  const out: SampleFrame[] = [];
  const add = (name: string, stack: string, data: Uint8Array, linkType: number = LinkType.Ethernet): void => {
    out.push({ name, stack, data, linkType });
  };

  const syn = tcp({ flags: 0x002, options: SYN_OPTIONS }, new Uint8Array(0), V4.client, V4.server);
  add('ipv4 tcp syn with options', 'eth:ipv4:tcp', eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Tcp }, syn)));

  const seg = tcp({}, bytes(1448), V4.client, V4.server);
  const big = ipv4({ protocol: IpProtocol.Tcp }, seg);
  add('ipv4 tcp full-size segment', 'eth:ipv4:tcp', eth(EtherType.Ipv4, big));

  add('vlan ipv4 udp', 'eth:ipv4:udp', eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Udp, dontFragment: false }, udp(5353, 53, bytes(200), V4.client, V4.server)), [{ vid: 42 }]));

  const fragNeeded = emitIcmpv4({ kind: 'destination-unreachable', code: 4, unused: 0, nextHopMtu: 1400, quoted: big.subarray(0, 576 - 28) });
  add(
    'icmp frag-needed quoting a tcp segment',
    'eth:ipv4:icmp:[ipv4:tcp]',
    eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Icmp, src: V4.router, dst: V4.client, dontFragment: false }, fragNeeded)),
  );

  const dgram = udp(5000, 6000, bytes(2992), V4.client, V4.server);
  add('ipv4 first fragment', 'eth:ipv4:udp', eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Udp, dontFragment: false, moreFragments: true, ident: 7 }, dgram.subarray(0, 1480))));
  add('ipv4 last fragment', 'eth:ipv4', eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Udp, dontFragment: false, fragmentOffset: 1480, ident: 7 }, dgram.subarray(1480))));

  const seg6 = tcp({}, bytes(1208), V6.client, V6.server);
  const big6 = ipv6({ nextHeader: IpProtocol.Tcp }, seg6);
  add('ipv6 tcp', 'eth:ipv6:tcp', eth(EtherType.Ipv6, big6));

  const dgram6 = udp(5000, 6000, bytes(2992), V6.client, V6.server);
  const fragHeader = (offset: number, more: boolean): Ipv6ExtHeaderRepr => ({
    kind: 'fragment',
    nextHeader: IpProtocol.Udp,
    fragmentOffset: offset,
    moreFragments: more,
    ident: 0xabcdef,
    reserved1: 0,
    reserved2: 0,
  });
  const first6 = emitIpv6Chain([fragHeader(0, true)]);
  const firstPayload = new Uint8Array(first6.length + 1232);
  firstPayload.set(first6);
  firstPayload.set(dgram6.subarray(0, 1232), first6.length);
  add('ipv6 first fragment', 'eth:ipv6:udp', eth(EtherType.Ipv6, ipv6({ nextHeader: IpProtocol.Ipv6Frag }, firstPayload)));
  const last6 = emitIpv6Chain([fragHeader(1232, false)]);
  const lastPayload = new Uint8Array(last6.length + dgram6.length - 1232);
  lastPayload.set(last6);
  lastPayload.set(dgram6.subarray(1232), last6.length);
  add('ipv6 last fragment', 'eth:ipv6', eth(EtherType.Ipv6, ipv6({ nextHeader: IpProtocol.Ipv6Frag }, lastPayload)));

  const ptb = emitIcmpv6({ kind: 'packet-too-big', code: 0, mtu: 1280, quoted: big6.subarray(0, 1280 - 48) }, V6.router, V6.client);
  add('icmpv6 packet too big quoting tcp', 'eth:ipv6:icmpv6:[ipv6:tcp]', eth(EtherType.Ipv6, ipv6({ nextHeader: IpProtocol.Icmpv6, src: V6.router, dst: V6.client }, ptb)));

  const innerPing = emitIcmpv4({ kind: 'echo-request', ident: 1, seq: 2, data: bytes(56) });
  const innerFrame = eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Icmp, src: '10.9.0.1', dst: '10.9.0.2' }, innerPing));
  const vx = emitVxlan({ flags: 0x08, vni: 4242, reserved1: 0, reserved2: 0 }, innerFrame);
  add('vxlan with inner ping', 'eth:ipv4:udp:vxlan:eth:ipv4:icmp', eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Udp }, udp(49152, 4789, vx, V4.client, V4.server))));

  const innerTcp = ipv4({ protocol: IpProtocol.Tcp, src: '10.9.0.1', dst: '10.9.0.2' }, tcp({}, bytes(100), '10.9.0.1', '10.9.0.2'));
  const gue = emitGue({ variant: 0, control: false, protocol: IpProtocol.IpInIp, flags: 0, extensions: new Uint8Array(0) }, innerTcp);
  add('gue with inner tcp', 'eth:ipv4:udp:gue:ipv4:tcp', eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Udp }, udp(49153, 6080, gue, V4.client, V4.server))));

  const innerUdp = ipv4({ protocol: IpProtocol.Udp, src: '10.9.0.1', dst: '10.9.0.2' }, udp(1, 2, bytes(20), '10.9.0.1', '10.9.0.2'));
  const gre = emitGre({ checksumPresent: true, key: 99, sequence: 5, protocolType: EtherType.Ipv4, reserved0: 0, reserved1: 0 }, innerUdp);
  add('gre with inner udp', 'eth:ipv4:gre:ipv4:udp', eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Gre }, gre)));

  const hbh: Ipv6ExtHeaderRepr = { kind: 'hop-by-hop', nextHeader: IpProtocol.Ipv6Opts, options: [{ type: 5, data: Uint8Array.from([0, 0]) }, { type: 1, data: new Uint8Array(0) }] };
  const dst: Ipv6ExtHeaderRepr = { kind: 'destination-options', nextHeader: IpProtocol.Udp, options: [{ type: 1, data: Uint8Array.from([0, 0, 0, 0]) }] };
  const chain = emitIpv6Chain([hbh, dst]);
  const u6 = udp(546, 547, bytes(40), V6.client, V6.server);
  const withExt = new Uint8Array(chain.length + u6.length);
  withExt.set(chain);
  withExt.set(u6, chain.length);
  add('ipv6 hop-by-hop and destination options', 'eth:ipv6:udp', eth(EtherType.Ipv6, ipv6({ nextHeader: IpProtocol.HopByHop }, withExt)));

  const ra = emitIpv4Options([{ type: 0x94, copied: true, data: Uint8Array.from([0, 0]) }]);
  add('ipv4 options, unknown protocol', 'eth:ipv4', eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Igmp, options: ra, dontFragment: false }, bytes(8))));

  add('raw ipv4 udp', 'ipv4:udp', ipv4({ protocol: IpProtocol.Udp }, udp(1000, 2000, bytes(64), V4.client, V4.server)), LinkType.Raw);
  add('raw ipv6 tcp', 'ipv6:tcp', big6, LinkType.Raw);
  return out;
}
