/**
 * The input of bench/analyze: a seed of real lab traffic repeated many times, each repetition looking like new
 * conversations. Repetition `n` maps, in every frame, the fields that name a conversation or a datagram the same way
 * in both directions and in ICMP quotes: ephemeral ports (32768 and up) move by n steps, TCP sequence and
 * acknowledgement numbers by the same n-dependent offset, IPv4 identifications and IPv6 fragment identifications too.
 * Every checksum that covers a changed field is updated incrementally (RFC 1624), so what verified before verifies
 * after; addresses, service ports, tunnel ports and everything inside a tunnel stay as they are (changing them would
 * need every checksum around them recomputed).
 */
import { put16, u16 } from '../src/packet/bytes.js';
import { foldSum } from '../src/packet/checksum.js';
import { decodeFrame, type Layer } from '../src/packet/frame.js';
import { ipv6ExtHeaderLength } from '../src/packet/ipv6-ext.js';

const EPHEMERAL = 32768;

/** An ephemeral port moved by `n` steps within 32768-65535; service ports (below 32768) are kept. */
export function variedPort(port: number, n: number): number {
  return port < EPHEMERAL ? port : EPHEMERAL + ((port - EPHEMERAL + n * 211) % EPHEMERAL);
}

/** The offset every TCP sequence and acknowledgement number of repetition `n` moves by. */
export function sequenceOffset(n: number): number {
  return Math.imul(n, 0x9e3779b1) >>> 0;
}

export function variedIdent(ident: number, n: number): number {
  return (ident + n * 7919) & 0xffff;
}

/**
 * Writes `value` into the 16-bit word at `at` and updates each checksum field in `sums` to match (RFC 1624, eqn. 3).
 * A UDP checksum of 0 (none) stays 0, and a computed 0 is written 0xffff there.
 */
function replaceWord(b: Uint8Array, at: number, value: number, sums: readonly { at: number; udp: boolean }[]): void {
  const old = u16(b, at);
  if (old === value) return;
  put16(b, at, value);
  for (const s of sums) {
    if (s.at + 2 > b.length) continue;
    const checksum = u16(b, s.at);
    if (s.udp && checksum === 0) continue;
    const updated = ~foldSum((~checksum & 0xffff) + (~old & 0xffff) + value) & 0xffff;
    put16(b, s.at, s.udp && updated === 0 ? 0xffff : updated);
  }
}

function replaceLong(b: Uint8Array, at: number, value: number, sums: readonly { at: number; udp: boolean }[]): void {
  replaceWord(b, at, value >>> 16, sums);
  replaceWord(b, at + 2, value & 0xffff, sums);
}

function u32(b: Uint8Array, at: number): number {
  return ((u16(b, at) << 16) | u16(b, at + 2)) >>> 0;
}

/**
 * A copy of `frame` as repetition `n` of the seed: outermost packet and ICMP quotes varied (see the module comment),
 * layers inside a tunnel left alone. The copy's length and layer stack are the original's.
 */
export function variedFrame(linkType: number, frame: Uint8Array, n: number): Uint8Array {
  const b = Uint8Array.from(frame);
  if (n === 0) return b;
  let icmp: { at: number; udp: boolean } | undefined;
  const shift = sequenceOffset(n);
  for (const layer of decodeFrame(linkType, frame, frame.length).layers) {
    if (layer.depth > (layer.quoted ? 1 : 0)) continue;
    const outside = layer.quoted && icmp !== undefined ? [icmp] : [];
    const at = layer.offset;
    switch (layer.protocol) {
      case 'icmpv4':
      case 'icmpv6':
        if (!layer.quoted) icmp = { at: at + 2, udp: false };
        break;
      case 'ipv4':
        // The header checksum moves by the opposite of the change, so a checksum around a quoted header stays as it is.
        if (at + 12 <= b.length) replaceWord(b, at + 4, variedIdent(layer.repr.ident, n), [{ at: at + 10, udp: false }]);
        break;
      case 'ipv6':
        ipv6FragmentIdent(b, layer, n, outside);
        break;
      case 'udp':
        ports(b, at, n, layer.quoted ? outside : [{ at: at + 6, udp: true }, ...outside]);
        break;
      case 'tcp':
      case 'tcp-head': {
        const sums = layer.protocol === 'tcp' && !layer.quoted ? [{ at: at + 16, udp: false }, ...outside] : outside;
        ports(b, at, n, sums);
        if (at + 8 <= b.length) replaceLong(b, at + 4, (layer.repr.seq + shift) >>> 0, sums);
        if (layer.protocol === 'tcp' && at + 12 <= b.length) replaceLong(b, at + 8, (u32(frame, at + 8) + shift) >>> 0, sums);
        break;
      }
      default:
        break;
    }
  }
  return b;
}

/** A quoted transport's own checksum is not updated (nobody can verify it); the ICMP checksum around it is. */
function ports(b: Uint8Array, at: number, n: number, sums: readonly { at: number; udp: boolean }[]): void {
  if (at + 4 > b.length) return;
  replaceWord(b, at, variedPort(u16(b, at), n), sums);
  replaceWord(b, at + 2, variedPort(u16(b, at + 2), n), sums);
}

function ipv6FragmentIdent(b: Uint8Array, layer: Extract<Layer, { protocol: 'ipv6' }>, n: number, sums: readonly { at: number; udp: boolean }[]): void {
  let at = layer.offset + 40;
  for (const ext of layer.extensions) {
    if (ext.kind === 'fragment') {
      if (at + 8 <= b.length) replaceLong(b, at + 4, (ext.ident + n * 7919) >>> 0, sums);
      return;
    }
    at += ipv6ExtHeaderLength(ext);
  }
}
