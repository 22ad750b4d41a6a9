import { put16 } from './bytes.js';
import { finishChecksum, sum16, sumVerifies } from './checksum.js';
import type { ChecksumStatus } from './checksum-status.js';
import { checkIcmpLength, ICMP_HEADER, IcmpMessage, icmpMessageBytes, refuseAmbiguousOther, restOf } from './icmp-message.js';
import { type Decoded, ok } from './result.js';

export const ICMPV4_HEADER = ICMP_HEADER;

export const Icmpv4Type = {
  EchoReply: 0,
  DestinationUnreachable: 3,
  SourceQuench: 4,
  Redirect: 5,
  EchoRequest: 8,
  RouterAdvertisement: 9,
  RouterSolicitation: 10,
  TimeExceeded: 11,
  ParameterProblem: 12,
  Timestamp: 13,
  TimestampReply: 14,
} as const;

/** Destination Unreachable code 4, "fragmentation needed and DF set", which carries the next-hop MTU (RFC 1191). */
export const ICMPV4_FRAG_NEEDED_CODE = 4;

/** Checked view over an ICMP message (RFC 792); the checksum covers the message alone. */
export class Icmpv4Packet extends IcmpMessage {
  private constructor(bytes: Uint8Array, claimed: number) {
    super(bytes, claimed);
  }

  static check(bytes: Uint8Array, claimed: number): Decoded<Icmpv4Packet> {
    return checkIcmpLength('icmpv4', bytes, claimed) ?? ok(new Icmpv4Packet(bytes, claimed));
  }

  checksumStatus(): ChecksumStatus {
    if (this.truncated) return 'unverified';
    return sumVerifies(sum16(this.bytes, 0, this.claimed)) ? 'good' : 'bad';
  }
}

export type Icmpv4Repr =
  | { readonly kind: 'echo-request' | 'echo-reply'; readonly ident: number; readonly seq: number; readonly data: Uint8Array }
  | {
      readonly kind: 'destination-unreachable';
      readonly code: number;
      /** Bytes 4-5; zero except in the odd router that puts something there. */
      readonly unused: number;
      /** Bytes 6-7; meaningful for code 4 (ICMPV4_FRAG_NEEDED_CODE), zero from pre-RFC 1191 routers. */
      readonly nextHopMtu: number;
      /** The start of the datagram that caused the error, IP header first. */
      readonly quoted: Uint8Array;
    }
  | { readonly kind: 'time-exceeded'; readonly code: number; readonly unused: number; readonly quoted: Uint8Array }
  | { readonly kind: 'other'; readonly type: number; readonly code: number; readonly rest: number; readonly data: Uint8Array };

export function parseIcmpv4(view: Icmpv4Packet): Icmpv4Repr {
  const { type, code } = view;
  // A view, not a copy: a quoted packet can be 1232 bytes and is decoded in place by the frame decoder.
  const body = view.payload();
  switch (type) {
    case Icmpv4Type.EchoRequest:
    case Icmpv4Type.EchoReply:
      if (code !== 0) break;
      return { kind: type === Icmpv4Type.EchoRequest ? 'echo-request' : 'echo-reply', ident: view.restHigh, seq: view.restLow, data: body };
    case Icmpv4Type.DestinationUnreachable:
      return { kind: 'destination-unreachable', code, unused: view.restHigh, nextHopMtu: view.restLow, quoted: body };
    case Icmpv4Type.TimeExceeded:
      return { kind: 'time-exceeded', code, unused: view.rest, quoted: body };
  }
  return { kind: 'other', type, code, rest: view.rest, data: body };
}

/** Type, code and bytes 4-7 of the message a repr stands for. */
function header(repr: Icmpv4Repr): [type: number, code: number, rest: number] {
  switch (repr.kind) {
    case 'echo-request':
      return [Icmpv4Type.EchoRequest, 0, restOf(repr.ident, repr.seq)];
    case 'echo-reply':
      return [Icmpv4Type.EchoReply, 0, restOf(repr.ident, repr.seq)];
    case 'destination-unreachable':
      return [Icmpv4Type.DestinationUnreachable, repr.code, restOf(repr.unused, repr.nextHopMtu)];
    case 'time-exceeded':
      return [Icmpv4Type.TimeExceeded, repr.code, repr.unused];
    case 'other':
      return [repr.type, repr.code, repr.rest];
  }
}

/** The whole message with its checksum filled in. */
export function emitIcmpv4(repr: Icmpv4Repr): Uint8Array {
  const [type, code, rest] = header(repr);
  const out = icmpMessageBytes(type, code, rest, 'quoted' in repr ? repr.quoted : repr.data);
  if (repr.kind === 'other') {
    const back = Icmpv4Packet.check(out, out.length);
    if (back.ok) refuseAmbiguousOther(parseIcmpv4(back.value).kind, type, code);
  }
  put16(out, 2, finishChecksum(sum16(out, 0, out.length)));
  return out;
}
