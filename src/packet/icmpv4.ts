import { put16, put32, u16 } from './bytes.js';
import { finishChecksum, sum16, sumVerifies } from './checksum.js';
import type { ChecksumStatus } from './checksum-status.js';
import { checkIcmpLength, ICMP_HEADER, IcmpMessage } from './icmp-message.js';
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
      return {
        kind: type === Icmpv4Type.EchoRequest ? 'echo-request' : 'echo-reply',
        ident: u16(view.bytes, 4),
        seq: u16(view.bytes, 6),
        data: body,
      };
    case Icmpv4Type.DestinationUnreachable:
      return { kind: 'destination-unreachable', code, unused: u16(view.bytes, 4), nextHopMtu: u16(view.bytes, 6), quoted: body };
    case Icmpv4Type.TimeExceeded:
      return { kind: 'time-exceeded', code, unused: view.rest, quoted: body };
  }
  return { kind: 'other', type, code, rest: view.rest, data: body };
}

/** The whole message with its checksum filled in. */
export function emitIcmpv4(repr: Icmpv4Repr): Uint8Array {
  const body = 'quoted' in repr ? repr.quoted : repr.data;
  const out = new Uint8Array(ICMPV4_HEADER + body.length);
  switch (repr.kind) {
    case 'echo-request':
    case 'echo-reply':
      out[0] = repr.kind === 'echo-request' ? Icmpv4Type.EchoRequest : Icmpv4Type.EchoReply;
      put16(out, 4, repr.ident);
      put16(out, 6, repr.seq);
      break;
    case 'destination-unreachable':
      out[0] = Icmpv4Type.DestinationUnreachable;
      out[1] = repr.code;
      put16(out, 4, repr.unused);
      put16(out, 6, repr.nextHopMtu);
      break;
    case 'time-exceeded':
      out[0] = Icmpv4Type.TimeExceeded;
      out[1] = repr.code;
      put32(out, 4, repr.unused);
      break;
    case 'other':
      // Such a message would parse back as the specific kind, so the repr is ambiguous.
      if (repr.type === Icmpv4Type.DestinationUnreachable || repr.type === Icmpv4Type.TimeExceeded) {
        throw new RangeError(`ICMP type ${repr.type} has its own kind, not 'other'`);
      }
      if ((repr.type === Icmpv4Type.EchoRequest || repr.type === Icmpv4Type.EchoReply) && repr.code === 0) {
        throw new RangeError(`ICMP echo type ${repr.type} with code 0 has its own kind, not 'other'`);
      }
      out[0] = repr.type;
      out[1] = repr.code;
      put32(out, 4, repr.rest);
      break;
  }
  out.set(body, ICMPV4_HEADER);
  put16(out, 2, finishChecksum(sum16(out, 0, out.length)));
  return out;
}
