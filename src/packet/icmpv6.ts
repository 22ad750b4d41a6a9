import { ipBytes } from './address.js';
import { put16 } from './bytes.js';
import { finishChecksum, pseudoHeaderSum, sum16, sumVerifies } from './checksum.js';
import type { ChecksumStatus } from './checksum-status.js';
import { IpProtocol } from './ip-protocol.js';
import { checkIcmpLength, ICMP_HEADER, IcmpMessage, icmpMessageBytes, refuseAmbiguousOther, restOf } from './icmp-message.js';
import { type Decoded, ok } from './result.js';

export const ICMPV6_HEADER = ICMP_HEADER;

export const Icmpv6Type = {
  DestinationUnreachable: 1,
  PacketTooBig: 2,
  TimeExceeded: 3,
  ParameterProblem: 4,
  EchoRequest: 128,
  EchoReply: 129,
  RouterSolicitation: 133,
  RouterAdvertisement: 134,
  NeighborSolicitation: 135,
  NeighborAdvertisement: 136,
  Redirect: 137,
} as const;

/**
 * Checked view over an ICMPv6 message (RFC 4443). Like ICMPv4, `claimed` is the length the IPv6
 * header (minus extension headers) promises; unlike it, the checksum also covers a pseudo-header, so
 * verifying needs the addresses.
 */
export class Icmpv6Packet extends IcmpMessage {
  private constructor(bytes: Uint8Array, claimed: number) {
    super(bytes, claimed);
  }

  static check(bytes: Uint8Array, claimed: number): Decoded<Icmpv6Packet> {
    return checkIcmpLength('icmpv6', bytes, claimed) ?? ok(new Icmpv6Packet(bytes, claimed));
  }

  checksumStatus(src: Uint8Array, dst: Uint8Array): ChecksumStatus {
    if (this.truncated) return 'unverified';
    return sumVerifies(sum16(this.bytes, 0, this.claimed, pseudoHeaderSum(src, dst, IpProtocol.Icmpv6, this.claimed))) ? 'good' : 'bad';
  }
}

export type Icmpv6Repr =
  | { readonly kind: 'destination-unreachable'; readonly code: number; readonly unused: number; readonly quoted: Uint8Array }
  | {
      readonly kind: 'packet-too-big';
      readonly code: number;
      /** The MTU of the next-hop link, the figure path MTU discovery is after. */
      readonly mtu: number;
      readonly quoted: Uint8Array;
    }
  | { readonly kind: 'time-exceeded'; readonly code: number; readonly unused: number; readonly quoted: Uint8Array }
  | {
      readonly kind: 'parameter-problem';
      readonly code: number;
      /** Offset of the offending octet within the quoted packet. */
      readonly pointer: number;
      readonly quoted: Uint8Array;
    }
  | { readonly kind: 'echo-request' | 'echo-reply'; readonly ident: number; readonly seq: number; readonly data: Uint8Array }
  | { readonly kind: 'other'; readonly type: number; readonly code: number; readonly rest: number; readonly data: Uint8Array };

export function parseIcmpv6(view: Icmpv6Packet): Icmpv6Repr {
  const { type, code, rest } = view;
  // A view, not a copy: a quoted packet can be 1232 bytes and is decoded in place by the frame decoder.
  const body = view.payload();
  switch (type) {
    case Icmpv6Type.DestinationUnreachable:
      return { kind: 'destination-unreachable', code, unused: rest, quoted: body };
    case Icmpv6Type.PacketTooBig:
      return { kind: 'packet-too-big', code, mtu: rest, quoted: body };
    case Icmpv6Type.TimeExceeded:
      return { kind: 'time-exceeded', code, unused: rest, quoted: body };
    case Icmpv6Type.ParameterProblem:
      return { kind: 'parameter-problem', code, pointer: rest, quoted: body };
    case Icmpv6Type.EchoRequest:
    case Icmpv6Type.EchoReply:
      if (code !== 0) break;
      return { kind: type === Icmpv6Type.EchoRequest ? 'echo-request' : 'echo-reply', ident: view.restHigh, seq: view.restLow, data: body };
  }
  return { kind: 'other', type, code, rest, data: body };
}

/** Type, code and bytes 4-7 of the message a repr stands for. */
function header(repr: Icmpv6Repr): [type: number, code: number, rest: number] {
  switch (repr.kind) {
    case 'destination-unreachable':
      return [Icmpv6Type.DestinationUnreachable, repr.code, repr.unused];
    case 'packet-too-big':
      return [Icmpv6Type.PacketTooBig, repr.code, repr.mtu];
    case 'time-exceeded':
      return [Icmpv6Type.TimeExceeded, repr.code, repr.unused];
    case 'parameter-problem':
      return [Icmpv6Type.ParameterProblem, repr.code, repr.pointer];
    case 'echo-request':
      return [Icmpv6Type.EchoRequest, 0, restOf(repr.ident, repr.seq)];
    case 'echo-reply':
      return [Icmpv6Type.EchoReply, 0, restOf(repr.ident, repr.seq)];
    case 'other':
      return [repr.type, repr.code, repr.rest];
  }
}

/** The whole message with its checksum (pseudo-header from `src` and `dst`) filled in. */
export function emitIcmpv6(repr: Icmpv6Repr, src: string, dst: string): Uint8Array {
  const [type, code, rest] = header(repr);
  const out = icmpMessageBytes(type, code, rest, 'quoted' in repr ? repr.quoted : repr.data);
  if (repr.kind === 'other') {
    const back = Icmpv6Packet.check(out, out.length);
    if (back.ok) refuseAmbiguousOther(parseIcmpv6(back.value).kind, type, code);
  }
  const pseudo = pseudoHeaderSum(ipBytes(src, 6), ipBytes(dst, 6), IpProtocol.Icmpv6, out.length);
  put16(out, 2, finishChecksum(sum16(out, 0, out.length, pseudo)));
  return out;
}
