import type { CapturedPacket } from '../capture/captured-packet.js';
import { holdsOffloadSeed, type KnownTail, offloadAddendOfSum, type SegmentCheck, segmentBytesSum, sumVerifies } from '../packet/checksum.js';
import { EthernetFrame } from '../packet/ethernet.js';
import { fouInnerProtocol } from '../packet/fou.js';
import { type DecodedFrame, type DecodeOptions, decodeFrame, type Layer } from '../packet/frame.js';
import { ICMPV4_FRAG_NEEDED_CODE, type Icmpv4Repr } from '../packet/icmpv4.js';
import type { Icmpv6Repr } from '../packet/icmpv6.js';
import { GUE_PORT } from '../packet/gue.js';
import { EtherType, IpProtocol } from '../packet/ip-protocol.js';
import { Ipv4Packet } from '../packet/ipv4.js';
import { Ipv6Packet } from '../packet/ipv6.js';
import { ipv6ExtHeaderLength } from '../packet/ipv6-ext.js';
import { LinkType } from '../packet/link-type.js';
import { SllPacket } from '../packet/sll.js';
import { Sll2Packet } from '../packet/sll2.js';
import { ARPHRD_LOOPBACK, LARGEST_COMMON_MTU, superPacket } from '../packet/super-packet.js';
import { MALFORMED_TCP_OPTIONS, NO_MSS_OPTION, type TcpOption } from '../packet/tcp-options.js';
import { TcpFlag, TcpPacket, type TcpRepr } from '../packet/tcp.js';
import { parseUdp, UDP_HEADER, UdpPacket, type UdpRepr } from '../packet/udp.js';
import { VXLAN_HEADER, VXLAN_PORT, VxlanHeader } from '../packet/vxlan.js';

/**
 * The few facts of one captured packet that the analyzer's detectors read, taken once from the project's frame
 * decoder so that every detector sees the same interpretation of the bytes. Built per packet; detectors must copy
 * what they keep (`ipBytes` views the reader's chunk).
 */
export interface PacketFacts {
  /** 1-based record number in its file: the frame number Wireshark and tshark show. */
  readonly frame: number;
  /** Microseconds since the Unix epoch. */
  readonly timeUs: number;
  /** pcapng if_name, "#N" for an unnamed pcapng interface N, undefined for pcap. */
  readonly interface: string | undefined;
  /** From a cooked (SLL/SLL2) header: the packet was sent by the capturing host ('out') or received ('in'). */
  readonly direction: 'in' | 'out' | undefined;
  /**
   * From a SLL2 header (`tcpdump -i any`, libpcap 1.10+): the index of the interface the packet was seen on, which
   * tells the devices of one "any" capture apart (tshark: sll.ifindex). Undefined for other link types.
   */
  readonly ifindex: number | undefined;
  readonly wireLength: number;
  readonly capturedLength: number;
  /** The capture holds fewer bytes than the packet had (snaplen), so a header or payload is cut short. */
  readonly snapped: boolean;
  /** The outermost IP packet is longer than the link can carry: a GSO/TSO or GRO super-packet, not what crossed the wire. */
  readonly superPacket: boolean;
  /** An IPv4 total length of 0 in a captured packet with data (TSO on the sending host leaves it so). */
  readonly zeroIpLength: boolean;
  /** A TCP/UDP checksum of the outermost transport that holds only the pseudo-header sum (checksum offload). */
  readonly checksumOffload: boolean;
  /** The outermost IP header; undefined for frames without IP (ARP, malformed). */
  readonly outer: IpFacts | undefined;
  /** The innermost IP header outside ICMP quotes: `outer` itself when nothing is tunnelled. */
  readonly inner: IpFacts | undefined;
  /** Set when `inner` is carried in a tunnel inside `outer`. */
  readonly tunnel: TunnelFacts | undefined;
  /** The transport of `inner` (TCP, UDP, ICMP), when its header was present and whole. */
  readonly tcp: TcpFacts | undefined;
  readonly udp: UdpFacts | undefined;
  readonly icmp: IcmpFacts | undefined;
  /** The decoder stopped at a malformed header; the facts before it are kept. */
  readonly malformed: string | undefined;
  /**
   * The full decode, for the rare detector that needs more than the facts: decoded on first use from the packet's
   * bytes (a view of the reader's chunk), so read it only within observe(). With the options the facts were taken
   * with: in the Analyzer, checksums 'offload' (only those that may be left to the NIC are summed).
   */
  readonly decoded: DecodedFrame;
}

export interface IpFacts {
  readonly family: 4 | 6;
  readonly src: string;
  readonly dst: string;
  /** Header plus payload as the header claims it (IPv4 total length; IPv6 40 + payload length). */
  readonly length: number;
  readonly headerLength: number;
  readonly ttl: number;
  /** The transport protocol (IPv6: after the extension headers; of a fragment, the Fragment header's next header). */
  readonly protocol: number;
  /** IPv4 DF. IPv6 never fragments in transit, so always true there. */
  readonly dontFragment: boolean;
  /** Fragment fields: IPv4 header, or IPv6 Fragment header (undefined on IPv6 without one). */
  readonly fragment: FragmentFacts | undefined;
  /** The IP packet's bytes from its header on (a view; copy to keep). */
  readonly bytes: Uint8Array;
}

export interface FragmentFacts {
  readonly ident: number;
  /** In bytes. */
  readonly offset: number;
  readonly more: boolean;
  /**
   * Bytes of fragment data this packet carries, as its header claims: everything after the IPv4 header or the IPv6
   * Fragment header (extension headers that follow the Fragment header in a first fragment are data too).
   */
  readonly dataLength: number;
  /** Where that data starts in the IP packet's `bytes`: what `offset` counts from. */
  readonly dataStart: number;
}

export type TunnelKind = 'vxlan' | 'gue' | 'fou' | 'gre' | 'ip-in-ip';

export interface TunnelFacts {
  readonly kind: TunnelKind;
  /**
   * Bytes from the outer IP header to the inner one: every byte the encapsulation adds (outer IP length minus inner IP
   * length, also for a first outer fragment, whose outer length is only the fragment's).
   */
  readonly overhead: number;
}

export interface TcpFacts {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  readonly syn: boolean;
  readonly ackFlag: boolean;
  readonly fin: boolean;
  readonly rst: boolean;
  /** Data bytes of the segment as the IP length claims them (not what the capture kept). */
  readonly payloadLength: number;
  readonly window: number;
  /** The MSS option (SYN and SYN-ACK). */
  readonly mss: number | undefined;
}

export interface UdpFacts {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly payloadLength: number;
  /** The payload bytes present (a view; of a fragmented datagram only the first fragment's part). */
  readonly payload: Uint8Array;
}

/** An ICMP error with its quote, or another ICMP message by type. */
export interface IcmpFacts {
  readonly family: 4 | 6;
  readonly type: number;
  readonly code: number;
  /** ICMPv4 type 3 code 4 or ICMPv6 type 2. */
  readonly packetTooBig: boolean;
  /** The MTU the Packet Too Big reports (0 from a pre-RFC 1191 router). */
  readonly mtu: number | undefined;
  /** The packet the error quotes, as far as the quote reaches. */
  readonly quoted: QuotedFacts | undefined;
  readonly echo: { readonly request: boolean; readonly ident: number; readonly seq: number } | undefined;
}

export interface QuotedFacts {
  readonly family: 4 | 6;
  readonly src: string;
  readonly dst: string;
  readonly protocol: number;
  /** The quoted packet's length as its own header claims it. */
  readonly length: number;
  readonly dontFragment: boolean;
  readonly srcPort: number | undefined;
  readonly dstPort: number | undefined;
  /** TCP sequence number (the first 8 bytes of TCP hold it, so RFC 792 quotes do too). */
  readonly seq: number | undefined;
  /** The quoted IP packet is itself a tunnel packet: what it carried, if the quote reaches that far. */
  readonly tunnel: TunnelKind | undefined;
  readonly inner: QuotedInner | undefined;
  /** Bytes from the quoted outer IP header to the inner one: every byte the tunnel adds (set with `inner`). */
  readonly tunnelOverhead: number | undefined;
}

/** The inner packet of a quoted tunnel packet, as far as the quote reaches. */
export interface QuotedInner {
  readonly src: string;
  readonly dst: string;
  readonly protocol: number;
  /** The inner IP packet's length as its own header claims it. */
  readonly length: number;
  readonly srcPort?: number;
  readonly dstPort?: number;
  readonly seq?: number;
}

const SLL_OUTGOING = 4;

/** The interface name as findings print it. */
export function interfaceLabel(packet: Pick<CapturedPacket, 'interfaceName' | 'interfaceId'>, pcapng: boolean): string | undefined {
  if (packet.interfaceName !== undefined) return packet.interfaceName;
  return pcapng ? `#${packet.interfaceId}` : undefined;
}

export interface FactsOptions extends DecodeOptions {
  /** The largest MTU of the captured links (for super-packets); see superPacket(). */
  readonly linkMtu?: number;
  /** The file is pcapng (unnamed interfaces are then "#N"). */
  readonly pcapng?: boolean;
}

/**
 * The facts of one captured packet. The common case (Ethernet, SLL, SLL2 or raw IP → IPv4 or IPv6 without extension
 * headers → TCP or UDP, whole, not a fragment, not a tunnel port but VXLAN's, and inside VXLAN the same again) is read
 * straight from the checked views of src/packet (fastPacketFacts); everything else is taken from the full frame decoder
 * (decodedPacketFacts). Both give the same facts for the same packet (test/analyze/packet-facts-paths.test.ts).
 */
export function packetFacts(packet: CapturedPacket, frame: number, options: FactsOptions = {}): PacketFacts {
  return fastPacketFacts(packet, frame, options) ?? decodedPacketFacts(packet, frame, options);
}

/**
 * The facts as the object every detector sees; `decoded` is decoded on first use (no detector of the common path needs
 * it), from the packet's bytes: use it only within observe(), while the reader's chunk is still the packet's.
 */
class Facts implements PacketFacts {
  readonly interface: string | undefined;
  constructor(
    readonly frame: number,
    readonly timeUs: number,
    iface: string | undefined,
    readonly direction: 'in' | 'out' | undefined,
    readonly ifindex: number | undefined,
    readonly wireLength: number,
    readonly capturedLength: number,
    readonly snapped: boolean,
    readonly superPacket: boolean,
    readonly zeroIpLength: boolean,
    readonly checksumOffload: boolean,
    readonly outer: IpFacts | undefined,
    readonly inner: IpFacts | undefined,
    readonly tunnel: TunnelFacts | undefined,
    readonly tcp: TcpFacts | undefined,
    readonly udp: UdpFacts | undefined,
    readonly icmp: IcmpFacts | undefined,
    readonly malformed: string | undefined,
    private decodedFrame: DecodedFrame | undefined,
    private readonly source: CapturedPacket,
    private readonly decodeOptions: DecodeOptions,
  ) {
    this.interface = iface;
  }

  get decoded(): DecodedFrame {
    this.decodedFrame ??= decodeFrame(this.source.linkType, this.source.data, this.source.originalLength, this.decodeOptions);
    return this.decodedFrame;
  }
}

/** IpFacts whose `bytes` view is made when read (few detectors read it, and a view per packet was a tenth of the analyzer's allocation). */
class IpHeaderFacts implements IpFacts {
  constructor(
    readonly family: 4 | 6,
    readonly src: string,
    readonly dst: string,
    readonly length: number,
    readonly headerLength: number,
    readonly ttl: number,
    readonly protocol: number,
    readonly dontFragment: boolean,
    readonly fragment: FragmentFacts | undefined,
    private readonly data: Uint8Array,
    private readonly offset: number,
  ) {}

  get bytes(): Uint8Array {
    return this.data.subarray(this.offset);
  }
}

/** Every packet's facts through the full frame decoder (tunnels, ICMP and its quote, fragments, extension headers ...). */
export function decodedPacketFacts(packet: CapturedPacket, frame: number, options: FactsOptions = {}): PacketFacts {
  const decoded = decodeFrame(packet.linkType, packet.data, packet.originalLength, options);
  const layers = decoded.layers;
  let direction: 'in' | 'out' | undefined;
  let ifindex: number | undefined;
  const link = layers[0];
  if (link !== undefined && (link.protocol === 'sll' || link.protocol === 'sll2')) direction = link.repr.packetType === SLL_OUTGOING ? 'out' : 'in';
  if (link !== undefined && link.protocol === 'sll2') ifindex = link.repr.interfaceIndex;

  let outer: IpFacts | undefined;
  let inner: IpFacts | undefined;
  let innerIndex = -1;
  let tunnelKind: TunnelKind | undefined;
  let pendingTunnel: TunnelKind | undefined;
  let checksumOffload = false;
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i]!;
    if (layer.quoted) break;
    if (layer.protocol === 'ipv4' || layer.protocol === 'ipv6') {
      const ip = ipFacts(layer, packet.data);
      if (outer === undefined) outer = ip;
      else tunnelKind = pendingTunnel ?? 'ip-in-ip';
      inner = ip;
      innerIndex = i;
      pendingTunnel = undefined;
    } else if (layer.protocol === 'vxlan' || layer.protocol === 'gue' || layer.protocol === 'fou' || layer.protocol === 'gre') {
      pendingTunnel = layer.protocol;
    } else if ((layer.protocol === 'tcp' || layer.protocol === 'udp') && layer.checksum === 'partial' && outer === inner) {
      checksumOffload = true;
    }
  }
  let tcp: TcpFacts | undefined;
  let udp: UdpFacts | undefined;
  let icmp: IcmpFacts | undefined;
  if (innerIndex >= 0) {
    const next = layers[innerIndex + 1];
    if (next !== undefined && !next.quoted) {
      if (next.protocol === 'tcp') tcp = tcpFacts(next.repr, firstMss(next.repr.options));
      else if (next.protocol === 'udp') udp = udpFacts(next.repr, next.offset, packet.data);
      else if (next.protocol === 'icmpv4' || next.protocol === 'icmpv6') icmp = icmpFacts(next, layers, innerIndex + 2, packet.data, options);
    }
  }
  const zeroIpLength = outer !== undefined && outer.family === 4 && outer.length === 0;
  return new Facts(
    frame,
    packet.timeUs,
    interfaceLabel(packet, options.pcapng ?? false),
    direction,
    ifindex,
    packet.originalLength,
    packet.capturedLength,
    packet.capturedLength < packet.originalLength,
    superPacket(decoded, options.linkMtu) !== undefined,
    zeroIpLength,
    checksumOffload,
    outer,
    inner,
    tunnelKind !== undefined && outer !== undefined && inner !== undefined ? { kind: tunnelKind, overhead: inner.bytes.byteOffset - outer.bytes.byteOffset } : undefined,
    tcp,
    udp,
    icmp,
    decoded.error === undefined ? undefined : `${decoded.error.protocol}.${decoded.error.field} at offset ${decoded.error.offset}: ${decoded.error.reason}`,
    decoded,
    packet,
    options,
  );
}

const DEFAULT_VXLAN_PORTS: ReadonlySet<number> = new Set([VXLAN_PORT]);
const DEFAULT_GUE_PORTS: ReadonlySet<number> = new Set([GUE_PORT]);

/**
 * The facts of a packet of the common case, read from the checked views without the full decode (no layer list, no
 * MAC text); undefined for anything else, which decodedPacketFacts then handles: a snapped or truncated packet, a link
 * type other than Ethernet/SLL/SLL2/raw IP, anything but IPv4/IPv6, IPv4 options are fine but IPv6 extension headers
 * are not, fragments, ICMP and every other protocol but TCP and UDP, UDP to a GUE or FOU port, and any header the
 * views refuse. A VXLAN packet whose inner Ethernet frame holds such a TCP or UDP packet is read too (the underlay of
 * an overlay network: 5% of bench/analyze's packets, and ten times the cost of a plain packet in the decoder).
 * Checksums are summed only when the field holds the pseudo-header sum (the seed of checksum offload: only the full
 * sum tells it from a complete checksum that happens to equal it), and a VXLAN packet's outer UDP checksum also when
 * the inner checksum was left to the NIC (see FrameDecoder.udp): the facts do not say whether a checksum is good or
 * bad, only whether the outermost one was left to the NIC.
 */
export function fastPacketFacts(packet: CapturedPacket, frame: number, options: FactsOptions = {}): PacketFacts | undefined {
  if (packet.capturedLength < packet.originalLength) return undefined;
  const data = packet.data;
  let direction: 'in' | 'out' | undefined;
  let ifindex: number | undefined;
  let loopback = false;
  let network: Uint8Array;
  let networkOffset: number;
  let etherType = RAW_IP;
  switch (packet.linkType) {
    case LinkType.Ethernet: {
      const v = EthernetFrame.check(data);
      if (!v.ok) return undefined;
      const e = v.value;
      etherType = e.etherType;
      network = e.payload();
      networkOffset = e.headerLength;
      loopback = e.zeroAddresses;
      break;
    }
    case LinkType.LinuxSll: {
      const v = SllPacket.check(data);
      if (!v.ok) return undefined;
      const l = v.value;
      etherType = l.protocol;
      network = l.payload();
      networkOffset = l.headerLength;
      direction = l.packetType === SLL_OUTGOING ? 'out' : 'in';
      loopback = l.arphrdType === ARPHRD_LOOPBACK;
      break;
    }
    case LinkType.LinuxSll2: {
      const v = Sll2Packet.check(data);
      if (!v.ok) return undefined;
      const l = v.value;
      etherType = l.protocol;
      network = l.payload();
      networkOffset = l.headerLength;
      direction = l.packetType === SLL_OUTGOING ? 'out' : 'in';
      ifindex = l.interfaceIndex;
      loopback = l.arphrdType === ARPHRD_LOOPBACK;
      break;
    }
    case LinkType.Raw:
    case LinkType.Ipv4:
    case LinkType.Ipv6:
      network = data;
      networkOffset = 0;
      break;
    default:
      return undefined;
  }
  const outer = OUTER_IP;
  if (!fastIp(outer, network, etherType, data, networkOffset)) return undefined;
  const ip = outer.facts;
  let inner: IpFacts = ip;
  let tunnel: TunnelFacts | undefined;
  let tcp: TcpFacts | undefined;
  let udp: UdpFacts | undefined;
  let checksumOffload: boolean;
  if (ip.protocol === IpProtocol.Tcp) {
    tcp = fastTcp(outer);
    if (tcp === undefined) return undefined;
    checksumOffload = outer.check?.status === 'partial';
  } else {
    const v = UdpPacket.check(outer.transport);
    if (!v.ok) return undefined;
    const u = v.value;
    if (u.truncated) return undefined;
    const port = u.dstPort;
    if ((options.vxlanPorts ?? DEFAULT_VXLAN_PORTS).has(port)) {
      const vxlan = VxlanHeader.check(u.payload());
      if (!vxlan.ok) return undefined;
      const e = EthernetFrame.check(vxlan.value.payload());
      if (!e.ok) return undefined;
      const innerOffset = outer.transportOffset + UDP_HEADER + VXLAN_HEADER + e.value.headerLength;
      const within = INNER_IP;
      if (!fastIp(within, e.value.payload(), e.value.etherType, data, innerOffset)) return undefined;
      inner = within.facts;
      tunnel = { kind: 'vxlan', overhead: innerOffset - networkOffset };
      // What completing the inner checksum, if it was left to the NIC, adds to the outer one.
      let inside = 0;
      let innerCheck: SegmentCheck | undefined;
      let innerLength: number;
      if (inner.protocol === IpProtocol.Tcp) {
        tcp = fastTcp(within);
        if (tcp === undefined) return undefined;
        innerCheck = within.check;
        innerLength = within.claimed;
      } else {
        const w = UdpPacket.check(within.transport);
        if (!w.ok || w.value.truncated || tunnelPort(w.value.dstPort, options)) return undefined;
        udp = udpFacts(parseUdp(w.value), within.transportOffset, data);
        innerCheck = udpSeedCheck(w.value, within.net);
        innerLength = w.value.length;
      }
      if (innerCheck?.status === 'partial') inside = offloadAddendOfSum(innerCheck.sum);
      // The outer checksum covers the inner segment, which the inner check summed already: its sum is reused when the
      // segment ends the datagram (no padding after the inner frame) at an even offset from the datagram's start.
      const from = within.transportOffset - outer.transportOffset;
      const tail: KnownTail | undefined =
        innerCheck !== undefined && from % 2 === 0 && from + innerLength === u.length
          ? { from, sum: segmentBytesSum(innerCheck, { src: within.net.src, dst: within.net.dst, protocol: inner.protocol, length: innerLength }) }
          : undefined;
      // FrameDecoder.udp's rule: a checksum that is not the seed is summed only when an inner one was offloaded, and
      // one that is wrong until that offload completes counts as left to the NIC too.
      let check = udpSeedCheck(u, outer.net, tail);
      if (check === undefined && inside !== 0) check = u.checksumCheck(outer.net.src, outer.net.dst, tail);
      checksumOffload = check !== undefined && (check.status === 'partial' || (check.status === 'bad' && inside !== 0 && sumVerifies(check.sum + inside)));
    } else {
      if (tunnelPort(port, options)) return undefined;
      udp = udpFacts(parseUdp(u), outer.transportOffset, data);
      checksumOffload = udpSeedCheck(u, outer.net)?.status === 'partial';
    }
  }
  return new Facts(
    frame,
    packet.timeUs,
    interfaceLabel(packet, options.pcapng ?? false),
    direction,
    ifindex,
    packet.originalLength,
    packet.capturedLength,
    false,
    !loopback && ip.length > (options.linkMtu ?? LARGEST_COMMON_MTU),
    false,
    checksumOffload,
    ip,
    inner,
    tunnel,
    tcp,
    udp,
    undefined,
    undefined,
    undefined,
    packet,
    options,
  );
}

/** The EtherType argument of fastIp for a link without one (raw IP): the version nibble decides, as in the decoder. */
const RAW_IP = -1;

/**
 * An IP header the fast path reads, with what its transport is read from: filled in place by fastIp and fastTcp, one
 * for the outer header and one for a VXLAN packet's inner one, reused for every packet (an object per header and per
 * TCP header was a sixteenth of the analyzer's allocation). Valid until the next packet; the facts keep none of it.
 */
class FastIp {
  facts = PLACEHOLDER_IP;
  net!: Ipv4Packet | Ipv6Packet;
  /** The transport's bytes present, and the length the IP header claims for them. */
  transport: Uint8Array = NO_BYTES;
  claimed = 0;
  /** Where the transport header starts in the packet's data. */
  transportOffset = 0;
  /** Set by fastTcp: the TCP checksum's sum where its field holds the offload seed. */
  check: SegmentCheck | undefined;
}

const NO_BYTES = new Uint8Array(0);
const PLACEHOLDER_IP = new IpHeaderFacts(4, '', '', 0, 0, 0, 0, false, undefined, NO_BYTES, 0);
const OUTER_IP = new FastIp();
const INNER_IP = new FastIp();

/** IPv4 (not a fragment) or IPv6 (no extension header) carrying TCP or UDP, whole, read into `into`; false for anything else. */
function fastIp(into: FastIp, network: Uint8Array, etherType: number, data: Uint8Array, networkOffset: number): boolean {
  const raw = etherType === RAW_IP;
  let facts: IpHeaderFacts | undefined;
  let net: Ipv4Packet | Ipv6Packet | undefined;
  let claimed = 0;
  if (etherType === EtherType.Ipv4 || raw) {
    const v4 = Ipv4Packet.check(network);
    if (v4.ok) {
      const p = v4.value;
      if (p.truncated || p.isFragment) return false;
      net = p;
      facts = new IpHeaderFacts(4, p.srcText(), p.dstText(), p.totalLength, p.headerLength, p.ttl, p.protocol, p.dontFragment, undefined, data, networkOffset);
      claimed = p.totalLength - p.headerLength;
    } else if (!raw) {
      return false;
    }
  }
  if (net === undefined) {
    if (etherType !== EtherType.Ipv6 && !raw) return false;
    const v6 = Ipv6Packet.check(network);
    if (!v6.ok) return false;
    const p = v6.value;
    if (p.truncated) return false;
    net = p;
    facts = new IpHeaderFacts(6, p.srcText(), p.dstText(), 40 + p.payloadLength, 40, p.hopLimit, p.nextHeader, true, undefined, data, networkOffset);
    claimed = p.payloadLength;
  }
  if (facts === undefined || (facts.protocol !== IpProtocol.Tcp && facts.protocol !== IpProtocol.Udp)) return false;
  into.facts = facts;
  into.net = net;
  into.transport = net.payload();
  into.claimed = claimed;
  into.transportOffset = networkOffset + facts.headerLength;
  into.check = undefined;
  return true;
}

/**
 * The facts of a whole TCP header with well-formed options after `ip` (filled by fastIp); sets `ip.check`, its
 * checksum's sum, where the field holds the offload seed (the decoder's rule, segmentChecksumStatus).
 */
function fastTcp(ip: FastIp): TcpFacts | undefined {
  const v = TcpPacket.check(ip.transport, ip.claimed);
  if (!v.ok) return undefined;
  const t = v.value;
  if (t.truncated) return undefined;
  const mss = t.optionsMss();
  if (mss === MALFORMED_TCP_OPTIONS) return undefined;
  const net = ip.net;
  ip.check = holdsOffloadSeed(t.checksum, net.pseudoHeaderSum(IpProtocol.Tcp, ip.claimed)) ? t.checksumCheck(net.src, net.dst) : undefined;
  return tcpFacts(t, mss === NO_MSS_OPTION ? undefined : mss);
}

/** A UDP checksum's sum where the field holds the offload seed; undefined (not summed) otherwise. */
function udpSeedCheck(u: UdpPacket, net: Ipv4Packet | Ipv6Packet, tail?: KnownTail): SegmentCheck | undefined {
  return holdsOffloadSeed(u.checksum, net.pseudoHeaderSum(IpProtocol.Udp, u.length)) ? u.checksumCheck(net.src, net.dst, tail) : undefined;
}

/** A port the decoder reads a tunnel behind (VXLAN, GUE, FOU). */
function tunnelPort(port: number, options: FactsOptions): boolean {
  return (
    (options.vxlanPorts ?? DEFAULT_VXLAN_PORTS).has(port) ||
    (options.guePorts ?? DEFAULT_GUE_PORTS).has(port) ||
    (options.fouPorts !== undefined && fouInnerProtocol(options.fouPorts, port) !== undefined)
  );
}

function ipFacts(layer: Extract<Layer, { protocol: 'ipv4' | 'ipv6' }>, data: Uint8Array): IpFacts {
  if (layer.protocol === 'ipv4') {
    const r = layer.repr;
    const headerLength = 20 + r.options.length;
    const fragmented = r.moreFragments || r.fragmentOffset !== 0;
    return new IpHeaderFacts(4, r.src, r.dst, headerLength + r.payloadLength, headerLength, r.ttl, r.protocol, r.dontFragment, fragmented ? { ident: r.ident, offset: r.fragmentOffset, more: r.moreFragments, dataLength: r.payloadLength, dataStart: headerLength } : undefined, data, layer.offset);
  }
  const r = layer.repr;
  let protocol = r.nextHeader;
  let headerLength = 40;
  let fragment: FragmentFacts | undefined;
  for (const ext of layer.extensions) {
    protocol = ext.nextHeader;
    if (ext.kind === 'fragment') {
      const afterFragment = headerLength + 8;
      fragment = { ident: ext.ident, offset: ext.fragmentOffset, more: ext.moreFragments, dataLength: 40 + r.payloadLength - afterFragment, dataStart: afterFragment };
      headerLength = afterFragment;
      // What follows a non-first fragment is data, whatever the next header says.
      if (ext.fragmentOffset !== 0) break;
      continue;
    }
    headerLength += ipv6ExtHeaderLength(ext);
  }
  return new IpHeaderFacts(6, r.src, r.dst, 40 + r.payloadLength, headerLength, r.hopLimit, protocol, true, fragment, data, layer.offset);
}

/** From the parsed header (the decoder's) or from the checked view itself (the fast path), which name the fields alike. */
function tcpFacts(h: Pick<TcpRepr, 'srcPort' | 'dstPort' | 'seq' | 'ack' | 'flags' | 'payloadLength' | 'window'>, mss: number | undefined): TcpFacts {
  const flags = h.flags;
  return {
    srcPort: h.srcPort,
    dstPort: h.dstPort,
    seq: h.seq,
    ack: h.ack,
    syn: (flags & TcpFlag.Syn) !== 0,
    ackFlag: (flags & TcpFlag.Ack) !== 0,
    fin: (flags & TcpFlag.Fin) !== 0,
    rst: (flags & TcpFlag.Rst) !== 0,
    payloadLength: h.payloadLength,
    window: h.window,
    mss,
  };
}

/** The first MSS option's value, as tcpOptionSummary() reads it. */
function firstMss(options: readonly TcpOption[]): number | undefined {
  for (const o of options) if (o.kind === 'mss') return o.value;
  return undefined;
}

function udpFacts(r: UdpRepr, offset: number, data: Uint8Array): UdpFacts {
  const start = offset + 8;
  return { srcPort: r.srcPort, dstPort: r.dstPort, payloadLength: r.payloadLength, payload: data.subarray(start, Math.min(data.length, start + Math.max(0, r.payloadLength))) };
}

/** The ICMP type of each message kind the codecs name (messages of other types keep theirs in the repr). */
const ICMP_TYPES = {
  4: { 'echo-reply': 0, 'destination-unreachable': 3, 'echo-request': 8, 'time-exceeded': 11 },
  6: { 'destination-unreachable': 1, 'packet-too-big': 2, 'time-exceeded': 3, 'parameter-problem': 4, 'echo-request': 128, 'echo-reply': 129 },
} as const;

function icmpFacts(layer: Extract<Layer, { protocol: 'icmpv4' | 'icmpv6' }>, layers: readonly Layer[], quoteStart: number, data: Uint8Array, options: DecodeOptions): IcmpFacts {
  const family = layer.protocol === 'icmpv4' ? 4 : 6;
  const r: Icmpv4Repr | Icmpv6Repr = layer.repr;
  const types: Readonly<Record<string, number>> = ICMP_TYPES[family];
  const type = r.kind === 'other' ? r.type : types[r.kind]!;
  // Echo messages are named only with code 0 (others stay 'other'), so only they carry no code.
  const code = 'code' in r ? r.code : 0;
  const fragNeeded = r.kind === 'destination-unreachable' && 'nextHopMtu' in r && r.code === ICMPV4_FRAG_NEEDED_CODE;
  const packetTooBig = fragNeeded || r.kind === 'packet-too-big';
  const mtu = r.kind === 'packet-too-big' ? r.mtu : fragNeeded && 'nextHopMtu' in r ? r.nextHopMtu : undefined;
  const echo = r.kind === 'echo-request' || r.kind === 'echo-reply' ? { request: r.kind === 'echo-request', ident: r.ident, seq: r.seq } : undefined;
  return { family, type, code, packetTooBig, mtu, quoted: quotedFacts(layers, quoteStart, data, options), echo };
}

function quotedFacts(layers: readonly Layer[], start: number, data: Uint8Array, options: DecodeOptions): QuotedFacts | undefined {
  const ip = layers[start];
  if (ip === undefined || !ip.quoted || (ip.protocol !== 'ipv4' && ip.protocol !== 'ipv6')) return undefined;
  const facts = ipFacts(ip, new Uint8Array(0));
  // The decoder does not look into tunnels inside a quote; a quoted tunnel packet is decoded again on its own, as the
  // bytes of a snapped capture (a quote is cut short), so that its tunnel and inner packet are known.
  let quote: readonly Layer[] = layers;
  let from = start;
  if (TUNNEL_CARRIERS.has(facts.protocol) && facts.fragment === undefined) {
    quote = decodeFrame(LinkType.Raw, data.subarray(ip.offset), Number.MAX_SAFE_INTEGER, options).layers;
    from = 0;
  }
  let srcPort: number | undefined;
  let dstPort: number | undefined;
  let seq: number | undefined;
  let tunnel: TunnelKind | undefined;
  let inner: QuotedInner | undefined;
  let overhead: number | undefined;
  let innerIp: Extract<Layer, { protocol: 'ipv4' | 'ipv6' }> | undefined;
  for (let i = from + 1; i < quote.length; i++) {
    const l = quote[i]!;
    if (from === start && !l.quoted) break;
    if (l.protocol === 'ipv4' || l.protocol === 'ipv6') {
      if (innerIp !== undefined) break;
      innerIp = l;
      tunnel ??= 'ip-in-ip';
      const length = l.protocol === 'ipv4' ? 20 + l.repr.options.length + l.repr.payloadLength : 40 + l.repr.payloadLength;
      inner = { src: l.repr.src, dst: l.repr.dst, protocol: l.protocol === 'ipv4' ? l.repr.protocol : lastNextHeader(l), length };
      overhead = l.offset - quote[from]!.offset;
      continue;
    }
    if (l.protocol === 'vxlan' || l.protocol === 'gue' || l.protocol === 'fou' || l.protocol === 'gre') {
      tunnel = l.protocol;
      continue;
    }
    if (l.protocol === 'tcp' || l.protocol === 'tcp-head' || l.protocol === 'udp') {
      if (innerIp === undefined) {
        srcPort = l.repr.srcPort;
        dstPort = l.repr.dstPort;
        if (l.protocol !== 'udp') seq = l.repr.seq;
      } else if (inner !== undefined) {
        inner = { ...inner, srcPort: l.repr.srcPort, dstPort: l.repr.dstPort };
        if (l.protocol !== 'udp') inner = { ...inner, seq: l.repr.seq };
      }
    }
  }
  if (innerIp === undefined) tunnel = undefined;
  return {
    family: facts.family,
    src: facts.src,
    dst: facts.dst,
    protocol: facts.protocol,
    length: facts.length,
    dontFragment: facts.dontFragment,
    srcPort,
    dstPort,
    seq,
    tunnel,
    inner,
    tunnelOverhead: overhead,
  };
}

/** IP protocols a tunnel packet can be carried in (UDP for VXLAN, GUE and FOU). */
const TUNNEL_CARRIERS: ReadonlySet<number> = new Set([IpProtocol.Udp, IpProtocol.Gre, IpProtocol.IpInIp, IpProtocol.Ipv6]);

function lastNextHeader(l: Extract<Layer, { protocol: 'ipv6' }>): number {
  const last = l.extensions[l.extensions.length - 1];
  return last === undefined ? l.repr.nextHeader : last.nextHeader;
}

/** 'tcp', 'udp', 'icmp', 'icmpv6' or the number: how findings name a protocol. */
export function protocolName(protocol: number): string {
  switch (protocol) {
    case IpProtocol.Tcp:
      return 'tcp';
    case IpProtocol.Udp:
      return 'udp';
    case IpProtocol.Icmp:
      return 'icmp';
    case IpProtocol.Icmpv6:
      return 'icmpv6';
    default:
      return String(protocol);
  }
}
