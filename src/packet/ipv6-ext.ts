import { put16, put32, u16, u32 } from './bytes.js';
import { IpProtocol } from './ip-protocol.js';
import { IPV6_HEADER, type Ipv6Packet } from './ipv6.js';
import { type Decoded, fail, type Failed, ok } from './result.js';

/** One TLV of a hop-by-hop or destination options header (RFC 8200 section 4.2). */
export interface Ipv6Option {
  /** The whole type octet (action bits, change bit, number). 0 is Pad1, 1 is PadN. */
  readonly type: number;
  /** Option data after type and length octets; always empty for Pad1. */
  readonly data: Uint8Array;
}

export interface Ipv6HopByHopRepr {
  readonly kind: 'hop-by-hop';
  readonly nextHeader: number;
  /** Padding options included, so emit reproduces the header byte for byte. */
  readonly options: readonly Ipv6Option[];
}

export interface Ipv6DestinationOptionsRepr {
  readonly kind: 'destination-options';
  readonly nextHeader: number;
  readonly options: readonly Ipv6Option[];
}

export interface Ipv6RoutingRepr {
  readonly kind: 'routing';
  readonly nextHeader: number;
  readonly routingType: number;
  readonly segmentsLeft: number;
  /** The type-specific bytes after the first 4. */
  readonly data: Uint8Array;
}

export interface Ipv6FragmentRepr {
  readonly kind: 'fragment';
  readonly nextHeader: number;
  /** In bytes; a multiple of 8. */
  readonly fragmentOffset: number;
  readonly moreFragments: boolean;
  readonly ident: number;
  /** The 8-bit reserved field after next header. */
  readonly reserved1: number;
  /** The 2 reserved bits between offset and M flag. */
  readonly reserved2: number;
}

export interface Ipv6AuthenticationRepr {
  readonly kind: 'authentication';
  readonly nextHeader: number;
  /** Everything after next header and payload length: reserved, SPI, sequence number, ICV. */
  readonly data: Uint8Array;
}

export type Ipv6ExtHeaderRepr = Ipv6HopByHopRepr | Ipv6DestinationOptionsRepr | Ipv6RoutingRepr | Ipv6FragmentRepr | Ipv6AuthenticationRepr;

export type Ipv6ExtKind = Ipv6ExtHeaderRepr['kind'];

export interface Ipv6Chain {
  readonly headers: Ipv6ExtHeaderRepr[];
  /**
   * The next-header value where the walk stopped: the upper-layer protocol when the chain is complete
   * (59 for No Next Header), or the extension header that the capture cut off.
   */
  readonly upperProtocol: number;
  /** Where that header starts, from the start of the IPv6 header. */
  readonly upperOffset: number;
  /** False after No Next Header, after a non-first fragment, and when the capture ends inside the chain. */
  readonly upperPresent: boolean;
  /** The capture ends inside an extension header (it is not in `headers`). */
  readonly truncated: boolean;
  readonly fragment?: Ipv6FragmentRepr;
}

const KIND_BY_PROTOCOL: ReadonlyMap<number, Ipv6ExtKind> = new Map<number, Ipv6ExtKind>([
  [IpProtocol.HopByHop, 'hop-by-hop'],
  [IpProtocol.Ipv6Route, 'routing'],
  [IpProtocol.Ipv6Frag, 'fragment'],
  [IpProtocol.Ipv6Opts, 'destination-options'],
  [IpProtocol.Ah, 'authentication'],
]);

export function ipv6ExtKind(nextHeader: number): Ipv6ExtKind | undefined {
  return KIND_BY_PROTOCOL.get(nextHeader);
}

const PROTOCOL_BY_KIND = new Map<Ipv6ExtKind, number>([...KIND_BY_PROTOCOL].map(([protocol, kind]) => [kind, protocol]));

/** The next-header value that announces an extension header of this kind (ipv6ExtKind's inverse). */
export function ipv6ExtProtocol(h: Pick<Ipv6ExtHeaderRepr, 'kind'>): number {
  return PROTOCOL_BY_KIND.get(h.kind)!;
}

/** Every extension header is at least 8 bytes (AH's fixed part is 12). */
const MIN_EXT_HEADER = 8;
const FRAGMENT_HEADER = 8;
const AH_MIN_HEADER = 12;
/** hdr ext len is one octet counting 8-octet units beyond the first. */
const MAX_OPTIONS_HEADER = (0xff + 1) * 8;
/**
 * Legitimate chains hold a handful of headers; a hostile packet can pack thousands of 8-byte ones into
 * 64 KiB. Decoding stops there rather than spending time proportional to the attacker's patience.
 */
export const MAX_IPV6_EXT_HEADERS = 32;

/**
 * Follows the next-header chain after the fixed IPv6 header. Headers must end within the payload
 * length (else the packet is malformed); a header that ends within it but beyond the captured bytes
 * stops the walk as truncation. Error offsets count from the start of the IPv6 header.
 */
export function walkIpv6Extensions(p: Ipv6Packet): Decoded<Ipv6Chain> {
  const b = p.bytes;
  const end = IPV6_HEADER + p.payloadLength;
  const present = Math.min(end, b.length);
  const headers: Ipv6ExtHeaderRepr[] = [];
  let fragment: Ipv6FragmentRepr | undefined;
  let nh = p.nextHeader;
  let o = IPV6_HEADER;
  const done = (upperPresent: boolean, truncated: boolean): Decoded<Ipv6Chain> => {
    const chain: Ipv6Chain = { headers, upperProtocol: nh, upperOffset: o, upperPresent, truncated };
    return ok(fragment ? { ...chain, fragment } : chain);
  };
  for (;;) {
    const kind = KIND_BY_PROTOCOL.get(nh);
    if (kind === undefined) return done(nh !== IpProtocol.Ipv6NoNext, false);
    if (headers.length >= MAX_IPV6_EXT_HEADERS) {
      return fail('ipv6-ext', 'chain', o, `more than ${MAX_IPV6_EXT_HEADERS} extension headers`);
    }
    if (o + MIN_EXT_HEADER > end) {
      return fail('ipv6-ext', `${kind}.header`, o, `a ${kind} header at offset ${o} runs past the payload length (packet ends at ${end})`);
    }
    if (o + MIN_EXT_HEADER > present) return done(false, true);
    const length = headerLength(kind, b[o + 1]!);
    if (kind === 'authentication' && length < AH_MIN_HEADER) {
      return fail('ipv6-ext', 'authentication.length', o + 1, `AH length ${length} is smaller than its ${AH_MIN_HEADER}-byte fixed part`);
    }
    if (o + length > end) {
      return fail('ipv6-ext', `${kind}.length`, o + 1, `${kind} header of ${length} bytes at offset ${o} runs past the payload length (packet ends at ${end})`);
    }
    if (o + length > present) return done(false, true);
    const h = parseHeader(kind, b, o, length);
    if ('ok' in h) return h;
    headers.push(h);
    nh = h.nextHeader;
    o += length;
    if (h.kind === 'fragment') {
      fragment ??= h;
      // What follows a non-first fragment is the middle of the original payload, not a header.
      if (h.fragmentOffset !== 0) return done(false, false);
    }
  }
}

function headerLength(kind: Ipv6ExtKind, lengthOctet: number): number {
  switch (kind) {
    case 'fragment':
      return FRAGMENT_HEADER;
    case 'authentication':
      // RFC 4302 section 2.2: 32-bit words, minus 2.
      return (lengthOctet + 2) * 4;
    default:
      return (lengthOctet + 1) * 8;
  }
}

function parseHeader(kind: Ipv6ExtKind, b: Uint8Array, o: number, length: number): Ipv6ExtHeaderRepr | Failed {
  const nextHeader = b[o]!;
  switch (kind) {
    case 'hop-by-hop':
    case 'destination-options': {
      const options = parseOptions(kind, b, o, length);
      if (!Array.isArray(options)) return options;
      return { kind, nextHeader, options };
    }
    case 'routing':
      return { kind, nextHeader, routingType: b[o + 2]!, segmentsLeft: b[o + 3]!, data: b.slice(o + 4, o + length) };
    case 'fragment': {
      const word = u16(b, o + 2);
      return {
        kind,
        nextHeader,
        fragmentOffset: (word >> 3) * 8,
        moreFragments: (word & 1) !== 0,
        ident: u32(b, o + 4),
        reserved1: b[o + 1]!,
        reserved2: (word >> 1) & 3,
      };
    }
    case 'authentication':
      return { kind, nextHeader, data: b.slice(o + 2, o + length) };
  }
}

function parseOptions(kind: Ipv6ExtKind, b: Uint8Array, o: number, length: number): Ipv6Option[] | Failed {
  const options: Ipv6Option[] = [];
  const end = o + length;
  let i = o + 2;
  while (i < end) {
    const type = b[i]!;
    if (type === 0) {
      options.push({ type, data: new Uint8Array(0) });
      i++;
      continue;
    }
    if (i + 2 > end) return fail('ipv6-ext', `${kind}.option.length`, i, `option ${type} has no length octet before the end of the header`);
    const len = b[i + 1]!;
    if (i + 2 + len > end) {
      return fail('ipv6-ext', `${kind}.option.length`, i + 1, `option ${type} length ${len} runs past the end of the ${length}-byte header`);
    }
    options.push({ type, data: b.slice(i + 2, i + 2 + len) });
    i += 2 + len;
  }
  return options;
}

function optionsLength(options: readonly Ipv6Option[]): number {
  let n = 2;
  for (const opt of options) n += opt.type === 0 ? 1 : 2 + opt.data.length;
  return n;
}

export function ipv6ExtHeaderLength(h: Ipv6ExtHeaderRepr): number {
  switch (h.kind) {
    case 'hop-by-hop':
    case 'destination-options':
      return optionsLength(h.options);
    case 'routing':
      return 4 + h.data.length;
    case 'fragment':
      return FRAGMENT_HEADER;
    case 'authentication':
      return 2 + h.data.length;
  }
}

/** Writes one header at `offset` and returns its length; throws RangeError for a header that cannot be encoded. */
export function emitIpv6ExtHeader(h: Ipv6ExtHeaderRepr, out: Uint8Array, offset = 0): number {
  const length = ipv6ExtHeaderLength(h);
  const b = out;
  const o = offset;
  b[o] = h.nextHeader;
  switch (h.kind) {
    case 'hop-by-hop':
    case 'destination-options': {
      checkUnits(h.kind, length);
      b[o + 1] = length / 8 - 1;
      let i = o + 2;
      for (const opt of h.options) {
        if (opt.type === 0) {
          if (opt.data.length !== 0) throw new RangeError('Pad1 (option 0) carries no data');
          b[i++] = 0;
          continue;
        }
        if (opt.data.length > 0xff) throw new RangeError(`option ${opt.type} data of ${opt.data.length} bytes exceeds 255`);
        b[i] = opt.type;
        b[i + 1] = opt.data.length;
        b.set(opt.data, i + 2);
        i += 2 + opt.data.length;
      }
      break;
    }
    case 'routing':
      checkUnits(h.kind, length);
      b[o + 1] = length / 8 - 1;
      b[o + 2] = h.routingType;
      b[o + 3] = h.segmentsLeft;
      b.set(h.data, o + 4);
      break;
    case 'fragment':
      if (h.fragmentOffset % 8 !== 0 || h.fragmentOffset < 0 || h.fragmentOffset > 0x1fff * 8) {
        throw new RangeError(`IPv6 fragment offset ${h.fragmentOffset} is not a multiple of 8 within range`);
      }
      if (h.reserved2 < 0 || h.reserved2 > 3) throw new RangeError(`fragment reserved2 ${h.reserved2} does not fit in 2 bits`);
      b[o + 1] = h.reserved1;
      put16(b, o + 2, h.fragmentOffset | (h.reserved2 << 1) | (h.moreFragments ? 1 : 0));
      put32(b, o + 4, h.ident);
      break;
    case 'authentication':
      if (length % 4 !== 0 || length < AH_MIN_HEADER || length > (0xff + 2) * 4) {
        throw new RangeError(`AH length ${length} must be a multiple of 4 between ${AH_MIN_HEADER} and ${(0xff + 2) * 4}`);
      }
      b[o + 1] = length / 4 - 2;
      b.set(h.data, o + 2);
      break;
  }
  return length;
}

function checkUnits(kind: Ipv6ExtKind, length: number): void {
  if (length % 8 !== 0 || length > MAX_OPTIONS_HEADER) {
    throw new RangeError(`${kind} header of ${length} bytes is not a multiple of 8 up to ${MAX_OPTIONS_HEADER}`);
  }
}

/** The headers back to back, each with the nextHeader its repr gives (the caller links them). */
export function emitIpv6Chain(headers: readonly Ipv6ExtHeaderRepr[]): Uint8Array {
  let total = 0;
  for (const h of headers) total += ipv6ExtHeaderLength(h);
  const out = new Uint8Array(total);
  let o = 0;
  for (const h of headers) o += emitIpv6ExtHeader(h, out, o);
  return out;
}
