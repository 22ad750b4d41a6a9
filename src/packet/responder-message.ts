/**
 * The messages of the checker's UDP responder (`mtuscope serve` answers them on its port; `mtuscope probe` sends them):
 * a cookie exchange, fragmented probe datagrams toward the server (scenario 2), replies of asked-for sizes from it
 * (scenario 4), and a Packet Too Big from it on request (does the path back let one through?). The protocol, its rules and what the server can and cannot see: docs/probe.md, "UDP responder protocol".
 *
 * Every message is one UDP payload and starts with the same 16 bytes:
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |      'M'      |      'T'      |      'U'      |      'P'      |  magic, bytes 0-3
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  version = 1  |     type      |        reserved = 0           |  bytes 4-7
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                 nonce (8 bytes, chosen by the client,         |  bytes 8-15
 * |                 echoed in every answer)                       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 *
 * then the body of its type (all integers big-endian; "reserved" fields are sent as 0 and refused otherwise):
 *
 * | type | name | direction | body after the header | total size |
 * |---|---|---|---|---|
 * | 1 | hello | client → server | padding | at least 40 (the size of the cookie it asks for) |
 * | 2 | cookie | server → client | cookie (16), max reply size u32, reserved u32 | 40 |
 * | 3 | probe | client → server | cookie (16), probe id u32, fragment count u16, fragment size u16, padding | at least 40 |
 * | 4 | probe-ack | server → client | probe id u32, received length u32, fragment count u16, fragment size u16 | 28 |
 * | 5 | size-request | client → server | cookie (16), request id u32, reply size u32, padding | at least 40 |
 * | 6 | sized-reply | server → client | request id u32, reply size u32, padding | exactly the reply size (at least 24) |
 * | 7 | error | server → client | code u16, detail u16, reserved u32 | 24 |
 * | 8 | ptb-request | client → server | cookie (16), request id u32, reserved u32, padding | at least 88 |
 * | 9 | ptb-sent | server → client | request id u32, reported MTU u32, quoted length u16, packet size u16 | 28 |
 *
 * A ptb-request asks the server for an ICMP "fragmentation needed" / ICMPv6 Packet Too Big toward the client, quoting the
 * request (IP header rebuilt, then as much as keeps the ICMP packet no larger than the request); ptb-sent follows it
 * over UDP as the control. Why 88 bytes: an IPv6 quote that is no larger than the request holds its IP and UDP
 * headers (48 bytes) and the request's first 40 bytes (header, cookie, request id) only when the request has 88.
 *
 * Like every codec of src/packet: ResponderMessageView.check validates once and its accessors cannot fail afterwards;
 * malformed bytes are a DecodeError naming the field and its offset, never an exception. Padding is counted, its bytes
 * are ignored (emit writes zeros). Emit then parse:
 *
 * ```ts
 * const bytes = emitResponderMessage({ type: 'hello', nonce, padding: 24 });   // 40 bytes
 * const view = ResponderMessageView.check(bytes);                              // { ok: true, value }
 * parseResponderMessage(view.value);                                           // { type: 'hello', nonce, padding: 24 }
 * ```
 */
import { put16, put32, u16, u32 } from './bytes.js';
import { type Decoded, fail, ok, short } from './result.js';

export const RESPONDER_MAGIC = Uint8Array.of(0x4d, 0x54, 0x55, 0x50);
export const RESPONDER_VERSION = 1;
/** Magic, version, type, reserved and nonce. */
export const RESPONDER_HEADER = 16;
export const RESPONDER_NONCE = 8;
export const RESPONDER_COOKIE = 16;

/** Sizes of the fixed-size messages, and the least of the others. */
export const RESPONDER_SIZES = {
  cookie: 40,
  /** A hello is at least as large as the cookie it asks for: the answer to an unproven source never outgrows its question. */
  hello: 40,
  probe: 40,
  probeAck: 28,
  sizeRequest: 40,
  sizedReply: 24,
  error: 24,
  /** 48 bytes of IPv6 and UDP header plus the 40 bytes up to the request id must fit in a quote no larger than the request. */
  ptbRequest: 88,
  ptbSent: 28,
} as const;

/** The largest UDP payload over IPv4 (65535 - 20 - 8); no reply size above it can be asked for. */
export const MAX_UDP_PAYLOAD = 65507;

export const RESPONDER_TYPES = ['hello', 'cookie', 'probe', 'probe-ack', 'size-request', 'sized-reply', 'error', 'ptb-request', 'ptb-sent'] as const;
export type ResponderMessageType = (typeof RESPONDER_TYPES)[number];

/** The number on the wire of each type: its position in RESPONDER_TYPES, from 1. */
export function responderTypeCode(type: ResponderMessageType): number {
  return RESPONDER_TYPES.indexOf(type) + 1;
}

export const RESPONDER_ERRORS = ['bad-cookie', 'reply-too-large', 'rate-limited', 'unsupported-version', 'malformed', 'ptb-unavailable'] as const;
/**
 * - `bad-cookie`: the cookie is not one this server gave to this address and port lately (expired, forged, another
 *   source): send a hello again. Detail 0.
 * - `reply-too-large`: the reply size asked for is above the server's limit; detail: the limit (at most 65507).
 * - `rate-limited`: this address (or everybody) asked for more than the server answers now; detail: seconds to wait.
 * - `unsupported-version`: detail: the version the server speaks.
 * - `malformed`: the message failed to decode; detail: the byte offset of the field at fault.
 * - `ptb-unavailable`: the server cannot send a Packet Too Big (it could not open a raw socket). Detail 0.
 */
export type ResponderErrorCode = (typeof RESPONDER_ERRORS)[number];

export type ResponderMessage =
  | { readonly type: 'hello'; readonly nonce: Uint8Array; readonly padding: number }
  | { readonly type: 'cookie'; readonly nonce: Uint8Array; readonly cookie: Uint8Array; readonly maxReplySize: number }
  | {
      readonly type: 'probe';
      readonly nonce: Uint8Array;
      readonly cookie: Uint8Array;
      readonly probeId: number;
      /** How many IP fragments the client sent this datagram as (1: whole); the server cannot see it and only echoes it. */
      readonly fragmentCount: number;
      /** The largest of those fragments, IP header included (0: whole). Echoed too. */
      readonly fragmentSize: number;
      readonly padding: number;
    }
  | {
      readonly type: 'probe-ack';
      readonly nonce: Uint8Array;
      readonly probeId: number;
      /** The UDP payload length of the probe as the server's socket received it (reassembled by its kernel). */
      readonly receivedLength: number;
      readonly fragmentCount: number;
      readonly fragmentSize: number;
    }
  | { readonly type: 'size-request'; readonly nonce: Uint8Array; readonly cookie: Uint8Array; readonly requestId: number; readonly replySize: number; readonly padding: number }
  | { readonly type: 'sized-reply'; readonly nonce: Uint8Array; readonly requestId: number; readonly replySize: number }
  | { readonly type: 'error'; readonly nonce: Uint8Array; readonly code: ResponderErrorCode; readonly detail: number }
  /** Asks for a Packet Too Big toward the client quoting this very datagram; padding makes the quote (and so the message) larger. */
  | { readonly type: 'ptb-request'; readonly nonce: Uint8Array; readonly cookie: Uint8Array; readonly requestId: number; readonly padding: number }
  | {
      readonly type: 'ptb-sent';
      readonly nonce: Uint8Array;
      readonly requestId: number;
      /** The MTU the Packet Too Big reports (chosen so that no host lowers its path MTU for it). */
      readonly reportedMtu: number;
      /** Bytes of the request quoted, its rebuilt IP header included. */
      readonly quotedLength: number;
      /** The Packet Too Big's size on the wire, IP header included (never above the request's). */
      readonly packetSize: number;
    };

/** Field offsets, named once for the view and the emitter. */
const field = {
  magic: 0,
  version: 4,
  type: 5,
  reserved: 6,
  nonce: 8,
  body: RESPONDER_HEADER,
  // cookie
  cookie: 16,
  maxReplySize: 32,
  cookieReserved: 36,
  // probe (after the cookie)
  probeId: 32,
  fragmentCount: 36,
  fragmentSize: 38,
  // probe-ack (no cookie)
  ackProbeId: 16,
  ackReceivedLength: 20,
  ackFragmentCount: 24,
  ackFragmentSize: 26,
  // size-request (after the cookie)
  requestId: 32,
  replySize: 36,
  // sized-reply (no cookie)
  replyRequestId: 16,
  replyReplySize: 20,
  // error
  errorCode: 16,
  errorDetail: 18,
  errorReserved: 20,
  // ptb-request (after the cookie)
  ptbRequestId: 32,
  ptbReserved: 36,
  // ptb-sent (no cookie)
  ptbSentRequestId: 16,
  ptbSentMtu: 20,
  ptbSentQuoted: 24,
  ptbSentSize: 26,
} as const;

const P = 'mtuscope-udp';

/** Checked view over one message: after check(), every accessor of its type reads in range. */
export class ResponderMessageView {
  private constructor(
    readonly bytes: Uint8Array,
    readonly type: ResponderMessageType,
  ) {}

  static check(bytes: Uint8Array): Decoded<ResponderMessageView> {
    if (bytes.length < RESPONDER_HEADER) return short(P, 'header', 0, `needs ${RESPONDER_HEADER} bytes, datagram has ${bytes.length}`);
    for (let i = 0; i < RESPONDER_MAGIC.length; i++) {
      if (bytes[field.magic + i] !== RESPONDER_MAGIC[i]) {
        const magic = u32(bytes, field.magic).toString(16).padStart(8, '0');
        return fail(P, 'magic', field.magic, `magic is 0x${magic}, not 0x4d545550 ("MTUP")`);
      }
    }
    const version = bytes[field.version]!;
    if (version !== RESPONDER_VERSION) return fail(P, 'version', field.version, `version ${version} is unknown; this end speaks version ${RESPONDER_VERSION}`);
    const code = bytes[field.type]!;
    const type = RESPONDER_TYPES[code - 1];
    if (type === undefined) return fail(P, 'type', field.type, `type ${code} is unknown (1-${RESPONDER_TYPES.length})`);
    const reserved = u16(bytes, field.reserved);
    if (reserved !== 0) return fail(P, 'reserved', field.reserved, `reserved is ${reserved}, not 0`);
    const problem = checkBody(bytes, type);
    return problem ?? ok(new ResponderMessageView(bytes, type));
  }

  get nonce(): Uint8Array {
    return this.bytes.subarray(field.nonce, field.nonce + RESPONDER_NONCE);
  }
  /** The cookie of a probe or size-request (16 bytes), or the one a cookie message carries; empty for the others. */
  get cookie(): Uint8Array {
    return hasCookie(this.type) ? this.bytes.subarray(field.cookie, field.cookie + RESPONDER_COOKIE) : new Uint8Array(0);
  }
}

function hasCookie(type: ResponderMessageType): boolean {
  return type === 'cookie' || type === 'probe' || type === 'size-request' || type === 'ptb-request';
}

const LEAST: Readonly<Record<ResponderMessageType, number>> = {
  hello: RESPONDER_SIZES.hello,
  cookie: RESPONDER_SIZES.cookie,
  probe: RESPONDER_SIZES.probe,
  'probe-ack': RESPONDER_SIZES.probeAck,
  'size-request': RESPONDER_SIZES.sizeRequest,
  'sized-reply': RESPONDER_SIZES.sizedReply,
  error: RESPONDER_SIZES.error,
  'ptb-request': RESPONDER_SIZES.ptbRequest,
  'ptb-sent': RESPONDER_SIZES.ptbSent,
};
const FIXED: ReadonlySet<ResponderMessageType> = new Set(['cookie', 'probe-ack', 'error', 'ptb-sent']);

function checkBody(b: Uint8Array, type: ResponderMessageType): ReturnType<typeof fail> | undefined {
  const least = LEAST[type];
  if (b.length < least) {
    if (type === 'hello') return fail(P, 'hello.padding', b.length, `a hello of ${b.length} bytes is shorter than the ${least}-byte cookie it asks for`);
    return short(P, `${type}.body`, RESPONDER_HEADER, `a ${type} needs ${least} bytes, datagram has ${b.length}`);
  }
  if (FIXED.has(type) && b.length !== least) return fail(P, `${type}.length`, least, `a ${type} has exactly ${least} bytes, datagram has ${b.length}`);
  switch (type) {
    case 'cookie':
      if (u32(b, field.cookieReserved) !== 0) return fail(P, 'cookie.reserved', field.cookieReserved, `reserved is ${u32(b, field.cookieReserved)}, not 0`);
      return undefined;
    case 'probe':
      return fragmentFields(b, 'probe', field.fragmentCount, field.fragmentSize);
    case 'probe-ack':
      return fragmentFields(b, 'probe-ack', field.ackFragmentCount, field.ackFragmentSize);
    case 'size-request': {
      const size = u32(b, field.replySize);
      if (size < RESPONDER_SIZES.sizedReply || size > MAX_UDP_PAYLOAD) {
        return fail(P, 'size-request.reply_size', field.replySize, `reply size ${size} is outside ${RESPONDER_SIZES.sizedReply}-${MAX_UDP_PAYLOAD}`);
      }
      return undefined;
    }
    case 'sized-reply': {
      const size = u32(b, field.replyReplySize);
      if (size !== b.length) return fail(P, 'sized-reply.reply_size', field.replyReplySize, `reply size says ${size}, datagram has ${b.length} bytes`);
      return undefined;
    }
    case 'error': {
      const code = u16(b, field.errorCode);
      if (RESPONDER_ERRORS[code - 1] === undefined) return fail(P, 'error.code', field.errorCode, `error code ${code} is unknown (1-${RESPONDER_ERRORS.length})`);
      if (u32(b, field.errorReserved) !== 0) return fail(P, 'error.reserved', field.errorReserved, `reserved is ${u32(b, field.errorReserved)}, not 0`);
      return undefined;
    }
    case 'ptb-request':
      if (u32(b, field.ptbReserved) !== 0) return fail(P, 'ptb-request.reserved', field.ptbReserved, `reserved is ${u32(b, field.ptbReserved)}, not 0`);
      return undefined;
    default:
      return undefined;
  }
}

function fragmentFields(b: Uint8Array, type: string, countAt: number, sizeAt: number): ReturnType<typeof fail> | undefined {
  const count = u16(b, countAt);
  const size = u16(b, sizeAt);
  if (count === 0) return fail(P, `${type}.fragment_count`, countAt, 'fragment count is 0 (1 means sent whole)');
  if ((count === 1) !== (size === 0)) {
    return fail(P, `${type}.fragment_size`, sizeAt, `fragment size ${size} with fragment count ${count}: a whole datagram says 0, a fragmented one its largest fragment`);
  }
  return undefined;
}

export function parseResponderMessage(view: ResponderMessageView): ResponderMessage {
  const b = view.bytes;
  const nonce = view.nonce;
  switch (view.type) {
    case 'hello':
      return { type: 'hello', nonce, padding: b.length - RESPONDER_HEADER };
    case 'cookie':
      return { type: 'cookie', nonce, cookie: view.cookie, maxReplySize: u32(b, field.maxReplySize) };
    case 'probe':
      return {
        type: 'probe',
        nonce,
        cookie: view.cookie,
        probeId: u32(b, field.probeId),
        fragmentCount: u16(b, field.fragmentCount),
        fragmentSize: u16(b, field.fragmentSize),
        padding: b.length - RESPONDER_SIZES.probe,
      };
    case 'probe-ack':
      return {
        type: 'probe-ack',
        nonce,
        probeId: u32(b, field.ackProbeId),
        receivedLength: u32(b, field.ackReceivedLength),
        fragmentCount: u16(b, field.ackFragmentCount),
        fragmentSize: u16(b, field.ackFragmentSize),
      };
    case 'size-request':
      return { type: 'size-request', nonce, cookie: view.cookie, requestId: u32(b, field.requestId), replySize: u32(b, field.replySize), padding: b.length - RESPONDER_SIZES.sizeRequest };
    case 'sized-reply':
      return { type: 'sized-reply', nonce, requestId: u32(b, field.replyRequestId), replySize: u32(b, field.replyReplySize) };
    case 'error':
      return { type: 'error', nonce, code: RESPONDER_ERRORS[u16(b, field.errorCode) - 1]!, detail: u16(b, field.errorDetail) };
    case 'ptb-request':
      return { type: 'ptb-request', nonce, cookie: view.cookie, requestId: u32(b, field.ptbRequestId), padding: b.length - RESPONDER_SIZES.ptbRequest };
    case 'ptb-sent':
      return {
        type: 'ptb-sent',
        nonce,
        requestId: u32(b, field.ptbSentRequestId),
        reportedMtu: u32(b, field.ptbSentMtu),
        quotedLength: u16(b, field.ptbSentQuoted),
        packetSize: u16(b, field.ptbSentSize),
      };
  }
}

/** The size emitResponderMessage gives `message`. */
export function responderMessageSize(m: ResponderMessage): number {
  switch (m.type) {
    case 'hello':
      return RESPONDER_HEADER + m.padding;
    case 'probe':
      return RESPONDER_SIZES.probe + m.padding;
    case 'size-request':
      return RESPONDER_SIZES.sizeRequest + m.padding;
    case 'ptb-request':
      return RESPONDER_SIZES.ptbRequest + m.padding;
    case 'sized-reply':
      return m.replySize;
    default:
      return LEAST[m.type];
  }
}

function uint(value: number, bits: 16 | 32, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > (bits === 16 ? 0xffff : 0xffff_ffff)) throw new RangeError(`${what} ${value} does not fit in ${bits} bits`);
}

/**
 * The message's bytes; throws RangeError for a representation that check() would refuse (a hello shorter than a
 * cookie, a nonce that is not 8 bytes, a fragment count of 0, ...): that is a programming error.
 */
export function emitResponderMessage(m: ResponderMessage): Uint8Array {
  if (m.nonce.length !== RESPONDER_NONCE) throw new RangeError(`a nonce has ${RESPONDER_NONCE} bytes, not ${m.nonce.length}`);
  const size = responderMessageSize(m);
  if (!Number.isInteger(size) || size < LEAST[m.type]) throw new RangeError(`a ${m.type} of ${size} bytes is below its least size ${LEAST[m.type]}`);
  if (size > MAX_UDP_PAYLOAD) throw new RangeError(`a ${m.type} of ${size} bytes exceeds the largest UDP payload ${MAX_UDP_PAYLOAD}`);
  const out = new Uint8Array(size);
  out.set(RESPONDER_MAGIC, field.magic);
  out[field.version] = RESPONDER_VERSION;
  out[field.type] = responderTypeCode(m.type);
  out.set(m.nonce, field.nonce);
  const cookie = (c: Uint8Array): void => {
    if (c.length !== RESPONDER_COOKIE) throw new RangeError(`a cookie has ${RESPONDER_COOKIE} bytes, not ${c.length}`);
    out.set(c, field.cookie);
  };
  const fragments = (count: number, fragmentSize: number, countAt: number, sizeAt: number): void => {
    uint(count, 16, 'fragment count');
    uint(fragmentSize, 16, 'fragment size');
    if (count === 0 || (count === 1) !== (fragmentSize === 0)) throw new RangeError(`fragment count ${count} with fragment size ${fragmentSize}`);
    put16(out, countAt, count);
    put16(out, sizeAt, fragmentSize);
  };
  switch (m.type) {
    case 'hello':
      break;
    case 'cookie':
      cookie(m.cookie);
      uint(m.maxReplySize, 32, 'max reply size');
      put32(out, field.maxReplySize, m.maxReplySize);
      break;
    case 'probe':
      cookie(m.cookie);
      uint(m.probeId, 32, 'probe id');
      put32(out, field.probeId, m.probeId);
      fragments(m.fragmentCount, m.fragmentSize, field.fragmentCount, field.fragmentSize);
      break;
    case 'probe-ack':
      uint(m.probeId, 32, 'probe id');
      uint(m.receivedLength, 32, 'received length');
      put32(out, field.ackProbeId, m.probeId);
      put32(out, field.ackReceivedLength, m.receivedLength);
      fragments(m.fragmentCount, m.fragmentSize, field.ackFragmentCount, field.ackFragmentSize);
      break;
    case 'size-request':
      cookie(m.cookie);
      uint(m.requestId, 32, 'request id');
      if (!Number.isInteger(m.replySize) || m.replySize < RESPONDER_SIZES.sizedReply || m.replySize > MAX_UDP_PAYLOAD) throw new RangeError(`reply size ${m.replySize} is outside ${RESPONDER_SIZES.sizedReply}-${MAX_UDP_PAYLOAD}`);
      put32(out, field.requestId, m.requestId);
      put32(out, field.replySize, m.replySize);
      break;
    case 'sized-reply':
      uint(m.requestId, 32, 'request id');
      put32(out, field.replyRequestId, m.requestId);
      put32(out, field.replyReplySize, m.replySize);
      break;
    case 'error': {
      const code = RESPONDER_ERRORS.indexOf(m.code) + 1;
      if (code === 0) throw new RangeError(`error code ${String(m.code)} is unknown`);
      uint(m.detail, 16, 'error detail');
      put16(out, field.errorCode, code);
      put16(out, field.errorDetail, m.detail);
      break;
    }
    case 'ptb-request':
      cookie(m.cookie);
      uint(m.requestId, 32, 'request id');
      put32(out, field.ptbRequestId, m.requestId);
      break;
    case 'ptb-sent':
      uint(m.requestId, 32, 'request id');
      uint(m.reportedMtu, 32, 'reported MTU');
      uint(m.quotedLength, 16, 'quoted length');
      uint(m.packetSize, 16, 'packet size');
      put32(out, field.ptbSentRequestId, m.requestId);
      put32(out, field.ptbSentMtu, m.reportedMtu);
      put16(out, field.ptbSentQuoted, m.quotedLength);
      put16(out, field.ptbSentSize, m.packetSize);
      break;
  }
  return out;
}

/** Decodes a datagram in one step: check, then parse. */
export function decodeResponderMessage(bytes: Uint8Array): Decoded<ResponderMessage> {
  const view = ResponderMessageView.check(bytes);
  return view.ok ? ok(parseResponderMessage(view.value)) : view;
}

/** The first bytes of a ptb-request a Packet Too Big must quote for the client to know it: header, cookie, request id, reserved. */
export const PTB_REQUEST_QUOTED = 40;

/**
 * A ptb-request as a Packet Too Big quotes it: the UDP payload cut after at least its first 40 bytes (the quote is
 * never larger than the request), so the length rules of check() do not apply; the nonce and request id are read
 * from what is there.
 */
export function parseQuotedPtbRequest(bytes: Uint8Array): Decoded<{ readonly nonce: Uint8Array; readonly requestId: number }> {
  if (bytes.length < PTB_REQUEST_QUOTED) return short(P, 'ptb-request.quoted', 0, `a quoted ptb-request needs its first ${PTB_REQUEST_QUOTED} bytes, the quote has ${bytes.length}`);
  for (let i = 0; i < RESPONDER_MAGIC.length; i++) {
    if (bytes[field.magic + i] !== RESPONDER_MAGIC[i]) return fail(P, 'magic', field.magic, 'the quoted datagram is not an MTUP message');
  }
  if (bytes[field.version] !== RESPONDER_VERSION) return fail(P, 'version', field.version, `version ${bytes[field.version]!} is unknown`);
  if (bytes[field.type] !== responderTypeCode('ptb-request')) return fail(P, 'type', field.type, `type ${bytes[field.type]!} is not a ptb-request (${responderTypeCode('ptb-request')})`);
  if (u16(bytes, field.reserved) !== 0) return fail(P, 'reserved', field.reserved, `reserved is ${u16(bytes, field.reserved)}, not 0`);
  if (u32(bytes, field.ptbReserved) !== 0) return fail(P, 'ptb-request.reserved', field.ptbReserved, `reserved is ${u32(bytes, field.ptbReserved)}, not 0`);
  return ok({ nonce: bytes.subarray(field.nonce, field.nonce + RESPONDER_NONCE), requestId: u32(bytes, field.ptbRequestId) });
}
