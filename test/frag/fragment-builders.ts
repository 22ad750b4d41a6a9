// Fragments built straight from the packet emitters, so that the reassembler's tests and benchmark do not depend on
// our own fragmenter (which is tested against the reassembler and the kernel elsewhere).
import { emitIpv4, type Ipv4Repr } from '../../src/packet/ipv4.js';
import { emitIpv6Chain, type Ipv6ExtHeaderRepr } from '../../src/packet/ipv6-ext.js';
import { emitIpv6 } from '../../src/packet/ipv6.js';

export interface V4Spec {
  readonly src?: string;
  readonly dst?: string;
  readonly protocol?: number;
  readonly ident?: number;
  readonly options?: Uint8Array;
  readonly dontFragment?: boolean;
  readonly ttl?: number;
}

function repr4(spec: V4Spec, offset: number, more: boolean, payloadLength: number): Ipv4Repr {
  return {
    src: spec.src ?? '10.0.0.1',
    dst: spec.dst ?? '10.0.0.2',
    protocol: spec.protocol ?? 17,
    ttl: spec.ttl ?? 64,
    dscp: 0,
    ecn: 0,
    ident: spec.ident ?? 0x1234,
    reservedFlag: false,
    dontFragment: spec.dontFragment ?? false,
    moreFragments: more,
    fragmentOffset: offset,
    options: spec.options ?? new Uint8Array(0),
    payloadLength,
  };
}

export function v4Datagram(spec: V4Spec, payload: Uint8Array): Uint8Array {
  return emitIpv4(repr4(spec, 0, false, payload.length), payload);
}

export function v4Fragment(spec: V4Spec, offset: number, more: boolean, data: Uint8Array): Uint8Array {
  return emitIpv4(repr4(spec, offset, more, data.length), data);
}

/** Fragments of `payload` cut at the given offsets (multiples of 8, ascending, inside the payload). */
export function v4Split(spec: V4Spec, payload: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const bounds = [0, ...cuts, payload.length];
  const out: Uint8Array[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    out.push(v4Fragment(spec, bounds[i]!, i + 2 < bounds.length, payload.subarray(bounds[i], bounds[i + 1])));
  }
  return out;
}

export interface V6Spec {
  readonly src?: string;
  readonly dst?: string;
  readonly ident?: number;
  /** What follows the Fragment header (the upper layer, or the first fragmentable extension header). */
  readonly nextHeader?: number;
  /** Per-fragment headers before the Fragment header (hop-by-hop, routing, destination options); their nextHeader is set here. */
  readonly unfragmentable?: readonly Ipv6ExtHeaderRepr[];
  readonly hopLimit?: number;
}

function chainTo(headers: readonly Ipv6ExtHeaderRepr[], last: number): { first: number; bytes: Uint8Array } {
  const linked = headers.map((h, i) => ({ ...h, nextHeader: i + 1 < headers.length ? headerNumber(headers[i + 1]!) : last }));
  return { first: headers.length > 0 ? headerNumber(headers[0]!) : last, bytes: emitIpv6Chain(linked) };
}

function headerNumber(h: Ipv6ExtHeaderRepr): number {
  switch (h.kind) {
    case 'hop-by-hop':
      return 0;
    case 'routing':
      return 43;
    case 'fragment':
      return 44;
    case 'destination-options':
      return 60;
    case 'authentication':
      return 51;
  }
}

function v6(spec: V6Spec, firstNext: number, rest: Uint8Array): Uint8Array {
  return emitIpv6(
    {
      src: spec.src ?? 'fd00::1',
      dst: spec.dst ?? 'fd00::2',
      nextHeader: firstNext,
      hopLimit: spec.hopLimit ?? 64,
      trafficClass: 0,
      flowLabel: 0,
      payloadLength: rest.length,
    },
    rest,
  );
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** The unfragmented packet: per-fragment headers, then `payload` (which starts with whatever nextHeader names). */
export function v6Datagram(spec: V6Spec, payload: Uint8Array): Uint8Array {
  const c = chainTo(spec.unfragmentable ?? [], spec.nextHeader ?? 17);
  return v6(spec, c.first, concat(c.bytes, payload));
}

export function v6Fragment(spec: V6Spec, offset: number, more: boolean, data: Uint8Array): Uint8Array {
  const frag: Ipv6ExtHeaderRepr = {
    kind: 'fragment',
    nextHeader: spec.nextHeader ?? 17,
    fragmentOffset: offset,
    moreFragments: more,
    ident: spec.ident ?? 0xabcdef,
    reserved1: 0,
    reserved2: 0,
  };
  const c = chainTo([...(spec.unfragmentable ?? []), frag], spec.nextHeader ?? 17);
  return v6(spec, c.first, concat(c.bytes, data));
}

export function v6Split(spec: V6Spec, payload: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const bounds = [0, ...cuts, payload.length];
  const out: Uint8Array[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    out.push(v6Fragment(spec, bounds[i]!, i + 2 < bounds.length, payload.subarray(bounds[i], bounds[i + 1])));
  }
  return out;
}

/** Even cuts every `size` bytes (a multiple of 8). */
export function evenCuts(length: number, size: number): number[] {
  const cuts: number[] = [];
  for (let at = size; at < length; at += size) cuts.push(at);
  return cuts;
}

export function filled(length: number, byte: number): Uint8Array {
  return new Uint8Array(length).fill(byte);
}
