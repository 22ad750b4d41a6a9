import { put16, put32, u16, u32 } from './bytes.js';
import { type Decoded, fail, ok } from './result.js';

/** The options area of a TCP header is at most 40 bytes (data offset 15 words minus the fixed 5). */
export const TCP_MAX_OPTIONS = 40;

export const TcpOptionKind = {
  End: 0,
  Nop: 1,
  Mss: 2,
  WindowScale: 3,
  SackPermitted: 4,
  Sack: 5,
  Timestamps: 8,
} as const;

export interface SackBlock {
  readonly left: number;
  readonly right: number;
}

/**
 * One entry of the options area, in wire order.
 *
 * End of Option List and what follows it: RFC 9293 fills the rest of the area with zeros, which
 * emitTcpOptions adds by itself. So when the End octet and only zeros run to the next 4-byte boundary
 * and no further (exactly the padding emit would write), parse leaves them out entirely. Otherwise
 * (End on a word boundary, more than three bytes after it, or non-zero bytes) the list ends with
 * `end` followed by `padding` holding every byte after the End octet verbatim, so emit reproduces
 * the header exactly.
 */
export type TcpOption =
  | { readonly kind: 'end' }
  | { readonly kind: 'padding'; readonly data: Uint8Array }
  | { readonly kind: 'nop' }
  | { readonly kind: 'mss'; readonly value: number }
  | { readonly kind: 'window-scale'; readonly shift: number }
  | { readonly kind: 'sack-permitted' }
  | { readonly kind: 'sack'; readonly blocks: readonly SackBlock[] }
  | { readonly kind: 'timestamps'; readonly value: number; readonly echo: number }
  | { readonly kind: 'unknown'; readonly type: number; readonly data: Uint8Array };

/**
 * Wire length of each option kind with a fixed size, 0 for the others (SACK is 2 + 8 per block). A table by kind
 * rather than a Map: scanTcpOptionsMss reads it for the options of every segment the analyzer sees.
 */
const FIXED_LENGTH = new Uint8Array(256);
FIXED_LENGTH[TcpOptionKind.Mss] = 4;
FIXED_LENGTH[TcpOptionKind.WindowScale] = 3;
FIXED_LENGTH[TcpOptionKind.SackPermitted] = 2;
FIXED_LENGTH[TcpOptionKind.Timestamps] = 10;

const NAME: ReadonlyMap<number, string> = new Map([
  [TcpOptionKind.Mss, 'MSS'],
  [TcpOptionKind.WindowScale, 'window scale'],
  [TcpOptionKind.SackPermitted, 'SACK permitted'],
  [TcpOptionKind.Sack, 'SACK'],
  [TcpOptionKind.Timestamps, 'timestamps'],
]);

function roundUp4(n: number): number {
  return (n + 3) & ~3;
}

function allZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * Splits the options area (the bytes between offset 20 and the data offset). `baseOffset` is where
 * the area starts in the TCP header, so that error offsets point into the header.
 */
/** `cut`: the options area ends early (snapped capture); an option running past its end is dropped, not an error. */
export function parseTcpOptions(bytes: Uint8Array, baseOffset: number, cut = false): Decoded<TcpOption[]> {
  const out: TcpOption[] = [];
  let i = 0;
  while (i < bytes.length) {
    const type = bytes[i]!;
    if (type === TcpOptionKind.End) {
      const rest = bytes.subarray(i + 1);
      if (roundUp4(i) === bytes.length && allZero(rest)) break;
      out.push({ kind: 'end' });
      if (rest.length > 0) out.push({ kind: 'padding', data: rest.slice() });
      break;
    }
    if (type === TcpOptionKind.Nop) {
      out.push({ kind: 'nop' });
      i++;
      continue;
    }
    if (cut && (i + 1 >= bytes.length || i + bytes[i + 1]! > bytes.length)) break;
    if (i + 1 >= bytes.length) return fail('tcp', 'option.length', baseOffset + i, `option ${type} has no length octet`);
    const len = bytes[i + 1]!;
    const at = baseOffset + i + 1;
    if (len < 2) return fail('tcp', 'option.length', at, `option ${type} length ${len} is smaller than 2`);
    if (i + len > bytes.length) return fail('tcp', 'option.length', at, `option ${type} length ${len} runs past the header`);
    const fixed = FIXED_LENGTH[type]!;
    if (fixed !== 0 && len !== fixed) return fail('tcp', 'option.length', at, `${NAME.get(type)} option length ${len}, must be ${fixed}`);
    switch (type) {
      case TcpOptionKind.Mss:
        out.push({ kind: 'mss', value: u16(bytes, i + 2) });
        break;
      case TcpOptionKind.WindowScale:
        out.push({ kind: 'window-scale', shift: bytes[i + 2]! });
        break;
      case TcpOptionKind.SackPermitted:
        out.push({ kind: 'sack-permitted' });
        break;
      case TcpOptionKind.Timestamps:
        out.push({ kind: 'timestamps', value: u32(bytes, i + 2), echo: u32(bytes, i + 6) });
        break;
      case TcpOptionKind.Sack: {
        if (len < 10 || (len - 2) % 8 !== 0) return fail('tcp', 'option.length', at, `SACK option length ${len} is not 2 plus a non-zero multiple of 8`);
        const blocks: SackBlock[] = [];
        for (let o = i + 2; o < i + len; o += 8) blocks.push({ left: u32(bytes, o), right: u32(bytes, o + 4) });
        out.push({ kind: 'sack', blocks });
        break;
      }
      default:
        out.push({ kind: 'unknown', type, data: bytes.slice(i + 2, i + len) });
    }
    i += len;
  }
  return ok(out);
}

/** scanTcpOptionsMss's answer for an options area without an MSS option. */
export const NO_MSS_OPTION = -1;
/** scanTcpOptionsMss's answer for an options area that parseTcpOptions refuses. */
export const MALFORMED_TCP_OPTIONS = -2;

/**
 * The first MSS option's value in the options area bytes[start, end), NO_MSS_OPTION, or MALFORMED_TCP_OPTIONS exactly where parseTcpOptions (not cut) fails:
 * its checks without building the list, for a reader that needs only the MSS of a segment (most have timestamps
 * and SACK blocks, whose objects it would build and drop).
 */
export function scanTcpOptionsMss(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let mss = NO_MSS_OPTION;
  let i = start;
  while (i < end) {
    const type = bytes[i]!;
    if (type === TcpOptionKind.End) break;
    if (type === TcpOptionKind.Nop) {
      i++;
      continue;
    }
    if (i + 1 >= end) return MALFORMED_TCP_OPTIONS;
    const len = bytes[i + 1]!;
    if (len < 2 || i + len > end) return MALFORMED_TCP_OPTIONS;
    const fixed = FIXED_LENGTH[type]!;
    if (fixed !== 0 && len !== fixed) return MALFORMED_TCP_OPTIONS;
    if (type === TcpOptionKind.Sack && (len < 10 || (len - 2) % 8 !== 0)) return MALFORMED_TCP_OPTIONS;
    if (type === TcpOptionKind.Mss && mss === NO_MSS_OPTION) mss = u16(bytes, i + 2);
    i += len;
  }
  return mss;
}

const KNOWN_TYPES: ReadonlySet<number> = new Set(Object.values(TcpOptionKind));

function encodedLength(opt: TcpOption): number {
  switch (opt.kind) {
    case 'end':
    case 'nop':
      return 1;
    case 'padding':
      return opt.data.length;
    case 'mss':
      return 4;
    case 'window-scale':
      return 3;
    case 'sack-permitted':
      return 2;
    case 'sack':
      return 2 + 8 * opt.blocks.length;
    case 'timestamps':
      return 10;
    case 'unknown':
      return 2 + opt.data.length;
  }
}

/**
 * Encodes options in order and pads with zeros to a multiple of 4. Throws RangeError for lists that
 * could not come back from parseTcpOptions: anything after `end` but one `padding`, a `padding` not
 * right after `end`, an `unknown` using a known type, or more than 40 bytes.
 */
export function emitTcpOptions(options: readonly TcpOption[]): Uint8Array {
  let total = 0;
  for (let k = 0; k < options.length; k++) {
    const opt = options[k]!;
    const prev = k > 0 ? options[k - 1]!.kind : undefined;
    if (opt.kind === 'padding' ? prev !== 'end' : prev === 'end' || prev === 'padding') {
      throw new RangeError(`TCP option ${opt.kind} at index ${k}: only padding may follow end, and only right after it`);
    }
    if (opt.kind === 'sack' && (opt.blocks.length < 1 || opt.blocks.length > 4)) throw new RangeError(`SACK option with ${opt.blocks.length} blocks`);
    if (opt.kind === 'unknown' && (KNOWN_TYPES.has(opt.type) || opt.type < 0 || opt.type > 255 || opt.data.length > 253)) {
      throw new RangeError(`unknown TCP option type ${opt.type} with ${opt.data.length} data bytes cannot be encoded as such`);
    }
    total += encodedLength(opt);
  }
  const out = new Uint8Array(roundUp4(total));
  if (out.length > TCP_MAX_OPTIONS) throw new RangeError(`TCP options take ${out.length} bytes, at most ${TCP_MAX_OPTIONS} fit`);
  let o = 0;
  for (const opt of options) {
    switch (opt.kind) {
      case 'end':
        out[o] = TcpOptionKind.End;
        break;
      case 'padding':
        out.set(opt.data, o);
        break;
      case 'nop':
        out[o] = TcpOptionKind.Nop;
        break;
      case 'mss':
        out[o] = TcpOptionKind.Mss;
        out[o + 1] = 4;
        put16(out, o + 2, opt.value);
        break;
      case 'window-scale':
        out[o] = TcpOptionKind.WindowScale;
        out[o + 1] = 3;
        out[o + 2] = opt.shift;
        break;
      case 'sack-permitted':
        out[o] = TcpOptionKind.SackPermitted;
        out[o + 1] = 2;
        break;
      case 'sack':
        out[o] = TcpOptionKind.Sack;
        out[o + 1] = 2 + 8 * opt.blocks.length;
        opt.blocks.forEach((b, n) => {
          put32(out, o + 2 + 8 * n, b.left);
          put32(out, o + 6 + 8 * n, b.right);
        });
        break;
      case 'timestamps':
        out[o] = TcpOptionKind.Timestamps;
        out[o + 1] = 10;
        put32(out, o + 2, opt.value);
        put32(out, o + 6, opt.echo);
        break;
      case 'unknown':
        out[o] = opt.type;
        out[o + 1] = 2 + opt.data.length;
        out.set(opt.data, o + 2);
        break;
    }
    o += encodedLength(opt);
  }
  return out;
}

export interface TcpOptionSummary {
  readonly mss?: number;
  readonly windowScale?: number;
  readonly sackPermitted: boolean;
  readonly timestamps?: { readonly value: number; readonly echo: number };
  /** SACK blocks over all SACK options. */
  readonly sackBlocks: number;
}

/** The negotiated values a reader cares about; where an option repeats, the first one counts. */
export function tcpOptionSummary(options: readonly TcpOption[]): TcpOptionSummary {
  let mss: number | undefined;
  let windowScale: number | undefined;
  let timestamps: { value: number; echo: number } | undefined;
  let sackPermitted = false;
  let sackBlocks = 0;
  for (const opt of options) {
    if (opt.kind === 'mss') mss ??= opt.value;
    else if (opt.kind === 'window-scale') windowScale ??= opt.shift;
    else if (opt.kind === 'timestamps') timestamps ??= { value: opt.value, echo: opt.echo };
    else if (opt.kind === 'sack-permitted') sackPermitted = true;
    else if (opt.kind === 'sack') sackBlocks += opt.blocks.length;
  }
  const out: { -readonly [K in keyof TcpOptionSummary]: TcpOptionSummary[K] } = { sackPermitted, sackBlocks };
  if (mss !== undefined) out.mss = mss;
  if (windowScale !== undefined) out.windowScale = windowScale;
  if (timestamps !== undefined) out.timestamps = timestamps;
  return out;
}
