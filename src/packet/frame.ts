import { ArpPacket, type ArpRepr, parseArp } from './arp.js';
import type { ChecksumStatus } from './checksum-status.js';
import { holdsOffloadSeed, offloadAddendOfSum, pseudoHeaderSum, sumVerifies } from './checksum.js';
import { EthernetFrame, type EthernetRepr, parseEthernet } from './ethernet.js';
import { fouInnerProtocol, type FouPortMap } from './fou.js';
import { GrePacket, type GreRepr, parseGre } from './gre.js';
import { GUE_PORT, GueHeader, type GueRepr, parseGue } from './gue.js';
import { Icmpv4Packet, type Icmpv4Repr, parseIcmpv4 } from './icmpv4.js';
import { Icmpv6Packet, type Icmpv6Repr, parseIcmpv6 } from './icmpv6.js';
import { EtherType, IpProtocol } from './ip-protocol.js';
import { Ipv4Packet, type Ipv4Repr, parseIpv4 } from './ipv4.js';
import { Ipv6Packet, type Ipv6Repr, parseIpv6 } from './ipv6.js';
import { type Ipv6ExtHeaderRepr, walkIpv6Extensions } from './ipv6-ext.js';
import { LinkType } from './link-type.js';
import { NullLoopHeader, type NullLoopRepr, parseNullLoop } from './null-loop.js';
import { type DecodeError, rebase } from './result.js';
import { parseSll, SllPacket, type SllRepr } from './sll.js';
import { parseSll2, Sll2Packet, type Sll2Repr } from './sll2.js';
import { parseTcp, TcpPacket, type TcpRepr } from './tcp.js';
import { parseTcpHead, TcpHead, type TcpHeadRepr } from './tcp-head.js';
import { parseUdp, UdpPacket, type UdpRepr } from './udp.js';
import { parseVxlan, VXLAN_PORT, VxlanHeader, type VxlanRepr } from './vxlan.js';

/**
 * Where a layer sits: `depth` counts encapsulations (0 is the outermost packet; tunnels and the
 * packet quoted inside an ICMP error are one deeper). `quoted` marks layers of an ICMP quote, which
 * are routinely cut short by the router that sent the error and so are never an error themselves.
 */
interface LayerPlace {
  /** Byte offset of the layer's header from the start of the frame. */
  readonly offset: number;
  readonly depth: number;
  readonly quoted: boolean;
}

export type Layer = LayerPlace &
  (
    | { readonly protocol: 'ethernet'; readonly repr: EthernetRepr }
    | { readonly protocol: 'sll'; readonly repr: SllRepr }
    | { readonly protocol: 'sll2'; readonly repr: Sll2Repr }
    | { readonly protocol: 'null'; readonly repr: NullLoopRepr }
    | { readonly protocol: 'arp'; readonly repr: ArpRepr }
    | { readonly protocol: 'ipv4'; readonly repr: Ipv4Repr; readonly checksum: ChecksumStatus; readonly truncated: boolean }
    | {
        readonly protocol: 'ipv6';
        readonly repr: Ipv6Repr;
        readonly extensions: readonly Ipv6ExtHeaderRepr[];
        readonly truncated: boolean;
      }
    | { readonly protocol: 'icmpv4'; readonly repr: Icmpv4Repr; readonly checksum: ChecksumStatus }
    | { readonly protocol: 'icmpv6'; readonly repr: Icmpv6Repr; readonly checksum: ChecksumStatus }
    /** Ports and sequence number of a TCP header cut before its 20 fixed bytes (RFC 792 ICMP quotes, small snaplens). */
    | { readonly protocol: 'tcp-head'; readonly repr: TcpHeadRepr }
    | { readonly protocol: 'udp'; readonly repr: UdpRepr; readonly checksum: ChecksumStatus; readonly truncated: boolean }
    | { readonly protocol: 'tcp'; readonly repr: TcpRepr; readonly checksum: ChecksumStatus; readonly truncated: boolean }
    | { readonly protocol: 'vxlan'; readonly repr: VxlanRepr }
    | { readonly protocol: 'gue'; readonly repr: GueRepr }
    | { readonly protocol: 'gre'; readonly repr: GreRepr; readonly checksum: ChecksumStatus }
    | { readonly protocol: 'fou'; readonly innerProtocol: number }
  );

export type LayerProtocol = Layer['protocol'];

export interface DecodedFrame {
  readonly layers: readonly Layer[];
  /** The bytes end before a header or a length field says they should (snaplen, or a short ICMP quote is not counted). */
  readonly truncated: boolean;
  /** Set when decoding stopped at a malformed header; the layers before it are still reported. */
  readonly error?: DecodeError;
}

export interface DecodeOptions {
  readonly vxlanPorts?: ReadonlySet<number>;
  readonly guePorts?: ReadonlySet<number>;
  readonly fouPorts?: FouPortMap;
  /**
   * 'all' (the default) verifies every checksum. 'offload' sums a TCP or UDP checksum only where it may be `partial`
   * (its field holds the pseudo-header seed, or it is a tunnel's outer checksum with an offloaded one inside) and no
   * ICMP checksum: for a reader that needs only to know which checksums were left to the NIC (the capture analyzer).
   * Every status it gives is the one 'all' gives; the others are 'unverified'.
   */
  readonly checksums?: 'all' | 'offload';
}

const DEFAULT_VXLAN_PORTS: ReadonlySet<number> = new Set([VXLAN_PORT]);
const DEFAULT_GUE_PORTS: ReadonlySet<number> = new Set([GUE_PORT]);
const NO_FOU: FouPortMap = new Map();
/** Tunnels inside tunnels are legal but a hostile frame could nest them until the stack overflows. */
const MAX_DEPTH = 8;

/**
 * Decodes a whole captured frame into its layer stack, including the inner packets of tunnels and
 * the packet quoted by ICMP errors. Never throws on malformed bytes.
 */
export function decodeFrame(linkType: number, data: Uint8Array, originalLength = data.length, options: DecodeOptions = {}): DecodedFrame {
  const d = new FrameDecoder(data.length < originalLength, options);
  d.link(linkType, data);
  return d.result();
}

/** What an IP header hands the protocol it carries. */
interface IpPayload {
  readonly protocol: number;
  /** The payload bytes present. */
  readonly bytes: Uint8Array;
  /** The payload length the IP header promises; of a fragment that is not the last, only the bytes present. */
  readonly claimed: number;
  /** Offset of `bytes` in the frame. */
  readonly base: number;
  /** The IP addresses (4 or 16 bytes), for the pseudo-header of a checksum. */
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly depth: number;
  readonly quoted: boolean;
  /** The rest of the datagram arrives in other fragments, so checksums cannot be verified here. */
  readonly fragmented: boolean;
}

class FrameDecoder {
  private readonly layers: Layer[] = [];
  private truncated = false;
  private error: DecodeError | undefined;
  /**
   * Sum of what completing the partial checksums decoded so far will add to a checksum over the bytes around them
   * (see offloadAddend in checksum.ts); a one's-complement sum, so it may grow past 16 bits.
   */
  private offloadAddend = 0;
  private readonly vxlanPorts: ReadonlySet<number>;
  private readonly guePorts: ReadonlySet<number>;
  private readonly fouPorts: FouPortMap;
  private readonly offloadOnly: boolean;

  constructor(
    private readonly snapped: boolean,
    options: DecodeOptions,
  ) {
    this.vxlanPorts = options.vxlanPorts ?? DEFAULT_VXLAN_PORTS;
    this.guePorts = options.guePorts ?? DEFAULT_GUE_PORTS;
    this.fouPorts = options.fouPorts ?? NO_FOU;
    this.offloadOnly = options.checksums === 'offload';
  }

  result(): DecodedFrame {
    return this.error ? { layers: this.layers, truncated: this.truncated, error: this.error } : { layers: this.layers, truncated: this.truncated };
  }

  /** A failed header ends the decode: as truncation when the bytes merely ran out where that is expected. */
  private stop(error: DecodeError, base: number, quoted: boolean): void {
    if (error.short && (this.snapped || quoted)) {
      if (!quoted) this.truncated = true;
      return;
    }
    if (error.short && !this.snapped) this.truncated = true;
    this.error = rebase(error, base);
  }

  link(linkType: number, data: Uint8Array): void {
    switch (linkType) {
      case LinkType.Ethernet:
        return this.ethernet(data, 0, 0, false);
      case LinkType.Raw:
      case LinkType.Ipv4:
      case LinkType.Ipv6:
        return this.ipByVersion(data, 0, 0, false);
      case LinkType.LinuxSll: {
        const v = SllPacket.check(data);
        if (!v.ok) return this.stop(v.error, 0, false);
        this.layers.push({ protocol: 'sll', offset: 0, depth: 0, quoted: false, repr: parseSll(v.value) });
        return this.etherType(v.value.protocol, v.value.payload(), v.value.headerLength, 0, false);
      }
      case LinkType.LinuxSll2: {
        const v = Sll2Packet.check(data);
        if (!v.ok) return this.stop(v.error, 0, false);
        this.layers.push({ protocol: 'sll2', offset: 0, depth: 0, quoted: false, repr: parseSll2(v.value) });
        return this.etherType(v.value.protocol, v.value.payload(), v.value.headerLength, 0, false);
      }
      case LinkType.Null:
      case LinkType.Loop: {
        const v = NullLoopHeader.check(data, linkType === LinkType.Loop);
        if (!v.ok) return this.stop(v.error, 0, false);
        this.layers.push({ protocol: 'null', offset: 0, depth: 0, quoted: false, repr: parseNullLoop(v.value) });
        if (v.value.ipVersion !== undefined) this.ipByVersion(v.value.payload(), 4, 0, false);
        return;
      }
      default:
        this.error = { protocol: 'frame', field: 'link_type', offset: 0, reason: `link type ${linkType} is not supported` };
    }
  }

  private ethernet(bytes: Uint8Array, base: number, depth: number, quoted: boolean): void {
    const v = EthernetFrame.check(bytes);
    if (!v.ok) return this.stop(v.error, base, quoted);
    this.layers.push({ protocol: 'ethernet', offset: base, depth, quoted, repr: parseEthernet(v.value) });
    this.etherType(v.value.etherType, v.value.payload(), base + v.value.headerLength, depth, quoted);
  }

  private etherType(type: number, bytes: Uint8Array, base: number, depth: number, quoted: boolean): void {
    if (type === EtherType.Ipv4) this.ipv4(bytes, base, depth, quoted);
    else if (type === EtherType.Ipv6) this.ipv6(bytes, base, depth, quoted);
    else if (type === EtherType.Arp) this.arp(bytes, base, depth, quoted);
    else if (type === EtherType.TransparentEthernetBridging && depth < MAX_DEPTH) this.ethernet(bytes, base, depth + 1, quoted);
  }

  private arp(bytes: Uint8Array, base: number, depth: number, quoted: boolean): void {
    const v = ArpPacket.check(bytes);
    if (!v.ok) return this.stop(v.error, base, quoted);
    this.layers.push({ protocol: 'arp', offset: base, depth, quoted, repr: parseArp(v.value) });
  }

  private ipByVersion(bytes: Uint8Array, base: number, depth: number, quoted: boolean): void {
    const version = bytes.length > 0 ? bytes[0]! >> 4 : -1;
    if (version === 6) this.ipv6(bytes, base, depth, quoted);
    else if (version === 4) this.ipv4(bytes, base, depth, quoted);
    else if (version < 0) this.stop({ protocol: 'ip', field: 'version', offset: 0, reason: 'no bytes for an IP header', short: true }, base, quoted);
    else this.stop({ protocol: 'ip', field: 'version', offset: 0, reason: `version is ${version}, not 4 or 6` }, base, quoted);
  }

  private ipv4(bytes: Uint8Array, base: number, depth: number, quoted: boolean): void {
    const v = Ipv4Packet.check(bytes);
    if (!v.ok) return this.stop(v.error, base, quoted);
    const p = v.value;
    const truncated = p.truncated;
    if (truncated && !quoted) this.truncated = true;
    this.layers.push({ protocol: 'ipv4', offset: base, depth, quoted, repr: parseIpv4(p), checksum: p.checksumValid() ? 'good' : 'bad', truncated });
    // Later fragments carry no transport header; the first one does (and it is decoded as far as it goes).
    if (p.fragmentOffset !== 0) return;
    const fragmented = p.moreFragments;
    const payload = p.payload();
    this.transport({
      protocol: p.protocol,
      bytes: payload,
      claimed: fragmented ? payload.length : p.totalLength - p.headerLength,
      base: base + p.headerLength,
      src: p.src,
      dst: p.dst,
      depth,
      quoted,
      fragmented,
    });
  }

  private ipv6(bytes: Uint8Array, base: number, depth: number, quoted: boolean): void {
    const v = Ipv6Packet.check(bytes);
    if (!v.ok) return this.stop(v.error, base, quoted);
    const p = v.value;
    const chain = walkIpv6Extensions(p);
    const truncated = p.truncated;
    if (truncated && !quoted) this.truncated = true;
    if (!chain.ok) {
      this.layers.push({ protocol: 'ipv6', offset: base, depth, quoted, repr: parseIpv6(p), extensions: [], truncated });
      return this.stop(chain.error, base, quoted);
    }
    const c = chain.value;
    this.layers.push({ protocol: 'ipv6', offset: base, depth, quoted, repr: parseIpv6(p), extensions: c.headers, truncated: truncated || c.truncated });
    if (!c.upperPresent) return;
    const end = Math.min(p.bytes.length, 40 + p.payloadLength);
    const upper = p.bytes.subarray(Math.min(c.upperOffset, end), end);
    const fragmented = c.fragment !== undefined && c.fragment.moreFragments;
    this.transport({
      protocol: c.upperProtocol,
      bytes: upper,
      claimed: fragmented ? upper.length : 40 + p.payloadLength - c.upperOffset,
      base: base + c.upperOffset,
      src: p.src,
      dst: p.dst,
      depth,
      quoted,
      fragmented,
    });
  }

  private transport(p: IpPayload): void {
    switch (p.protocol) {
      case IpProtocol.Tcp:
        return this.tcp(p);
      case IpProtocol.Udp:
        return this.udp(p);
      case IpProtocol.Icmp:
        return this.icmpv4(p);
      case IpProtocol.Icmpv6:
        return this.icmpv6(p);
      case IpProtocol.Gre:
        return this.gre(p);
      case IpProtocol.IpInIp:
        if (!p.quoted && !p.fragmented && p.depth < MAX_DEPTH) this.ipv4(p.bytes, p.base, p.depth + 1, false);
        return;
      case IpProtocol.Ipv6:
        if (!p.quoted && !p.fragmented && p.depth < MAX_DEPTH) this.ipv6(p.bytes, p.base, p.depth + 1, false);
        return;
      default:
        return;
    }
  }

  private tcp({ bytes, claimed, base, src, dst, depth, quoted, fragmented }: IpPayload): void {
    // A snapped capture or an ICMP quote may end inside the options: show what is there, as tshark does.
    const v = this.snapped || quoted ? TcpPacket.checkCut(bytes, claimed) : TcpPacket.check(bytes, claimed);
    if (!v.ok) {
      const head = v.error.short && (this.snapped || quoted) ? TcpHead.check(bytes) : undefined;
      if (head?.ok) this.layers.push({ protocol: 'tcp-head', offset: base, depth, quoted, repr: parseTcpHead(head.value) });
      return this.stop(v.error, base, quoted || fragmented);
    }
    const t = v.value;
    const repr = parseTcp(t);
    if (!repr.ok) return this.stop(repr.error, base, quoted);
    const skip = fragmented || quoted || (this.offloadOnly && !holdsOffloadSeed(t.checksum, pseudoHeaderSum(src, dst, IpProtocol.Tcp, claimed)));
    const check = skip ? undefined : t.checksumCheck(src, dst);
    const checksum = check === undefined ? 'unverified' : check.status;
    if (check !== undefined && checksum === 'partial') this.offloadAddend += offloadAddendOfSum(check.sum);
    this.layers.push({ protocol: 'tcp', offset: base, depth, quoted, repr: repr.value, checksum, truncated: t.truncated || t.headerCut });
  }

  private udp({ bytes, base, src, dst, depth, quoted, fragmented }: IpPayload): void {
    const v = UdpPacket.check(bytes);
    if (!v.ok) return this.stop(v.error, base, quoted || fragmented);
    const u = v.value;
    // Deferred: summed only if something inside turns out to be offloaded (the rule below).
    const deferred = !fragmented && !quoted && this.offloadOnly && !holdsOffloadSeed(u.checksum, pseudoHeaderSum(src, dst, IpProtocol.Udp, u.length));
    let check = fragmented || quoted || deferred ? undefined : u.checksumCheck(src, dst);
    const checksum = check === undefined ? 'unverified' : check.status;
    if (check !== undefined && checksum === 'partial') this.offloadAddend += offloadAddendOfSum(check.sum);
    const at = this.layers.length;
    const layer = { protocol: 'udp', offset: base, depth, quoted, repr: parseUdp(u), checksum, truncated: u.truncated } as const;
    this.layers.push(layer);
    if (quoted || depth >= MAX_DEPTH) return;
    const outside = this.offloadAddend;
    this.offloadAddend = 0;
    this.udpTunnel(u.dstPort, u.payload(), base + 8, depth);
    const inside = this.offloadAddend;
    this.offloadAddend = outside + inside;
    if (deferred && inside !== 0) {
      check = u.checksumCheck(src, dst);
      this.layers[at] = { ...layer, checksum: check.status };
    }
    // A tunnel's outer checksum that is right once the offload of the inner one completes is no error either.
    if (check !== undefined && check.status === 'bad' && inside !== 0 && sumVerifies(check.sum + inside)) this.layers[at] = { ...layer, checksum: 'partial' };
  }

  private icmpv4({ bytes, claimed, base, depth, quoted, fragmented }: IpPayload): void {
    const v = Icmpv4Packet.check(bytes, claimed);
    if (!v.ok) return this.stop(v.error, base, quoted || fragmented);
    const repr = parseIcmpv4(v.value);
    const checksum = fragmented || quoted || this.offloadOnly ? 'unverified' : v.value.checksumStatus();
    this.layers.push({ protocol: 'icmpv4', offset: base, depth, quoted, repr, checksum });
    if (!quoted && depth < MAX_DEPTH && 'quoted' in repr && repr.quoted.length > 0) this.ipv4(repr.quoted, base + 8, depth + 1, true);
  }

  private icmpv6({ bytes, claimed, base, src, dst, depth, quoted, fragmented }: IpPayload): void {
    const v = Icmpv6Packet.check(bytes, claimed);
    if (!v.ok) return this.stop(v.error, base, quoted || fragmented);
    const repr = parseIcmpv6(v.value);
    const checksum = fragmented || quoted || this.offloadOnly ? 'unverified' : v.value.checksumStatus(src, dst);
    this.layers.push({ protocol: 'icmpv6', offset: base, depth, quoted, repr, checksum });
    if (!quoted && depth < MAX_DEPTH && 'quoted' in repr && repr.quoted.length > 0) this.ipv6(repr.quoted, base + 8, depth + 1, true);
  }

  private gre({ bytes, claimed, base, depth, quoted, fragmented }: IpPayload): void {
    if (quoted || depth >= MAX_DEPTH) return;
    const v = GrePacket.check(bytes);
    if (!v.ok) return this.stop(v.error, base, fragmented);
    const g = v.value;
    this.layers.push({ protocol: 'gre', offset: base, depth, quoted, repr: parseGre(g), checksum: fragmented ? 'unverified' : g.checksumStatus(claimed) });
    if (!fragmented) this.etherType(g.protocolType, g.payload(), base + g.headerLength, depth + 1, false);
  }

  private udpTunnel(port: number, bytes: Uint8Array, base: number, depth: number): void {
    if (this.vxlanPorts.has(port)) {
      const v = VxlanHeader.check(bytes);
      if (!v.ok) return this.stop(v.error, base, false);
      this.layers.push({ protocol: 'vxlan', offset: base, depth, quoted: false, repr: parseVxlan(v.value) });
      return this.ethernet(v.value.payload(), base + 8, depth + 1, false);
    }
    if (this.guePorts.has(port)) {
      const v = GueHeader.check(bytes);
      if (!v.ok) return this.stop(v.error, base, false);
      const g = v.value;
      this.layers.push({ protocol: 'gue', offset: base, depth, quoted: false, repr: parseGue(g) });
      if (g.control) return;
      return this.innerIp(g.protocol, g.payload(), base + g.headerLength, depth + 1);
    }
    const fou = fouInnerProtocol(this.fouPorts, port);
    if (fou !== undefined) {
      this.layers.push({ protocol: 'fou', offset: base, depth, quoted: false, innerProtocol: fou });
      this.innerIp(fou, bytes, base, depth + 1);
    }
  }

  private innerIp(protocol: number, bytes: Uint8Array, base: number, depth: number): void {
    if (protocol === IpProtocol.IpInIp) this.ipv4(bytes, base, depth, false);
    else if (protocol === IpProtocol.Ipv6) this.ipv6(bytes, base, depth, false);
  }
}
