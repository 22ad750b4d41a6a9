/**
 * The lines of the tracer program (tracer-program.ts) as typed events. Each skb event carries the first
 * HEADER_BYTES of the packet from its IP header on, decoded here with the project's frame decoder: the tuple, the
 * ICMP type, code and MTU and the packet an ICMP error quotes, and the inner packet of a tunnel (VXLAN, GUE, GRE...).
 *
 * A line that does not have the expected shape is an error value naming the field, never an exception: the
 * program and this parser are generated and read by the same version, but a bpftrace message can look like anything.
 */
import { decodeFrame, type Layer } from '../packet/frame.js';
import { LinkType } from '../packet/link-type.js';
import { HEADER_BYTES } from './tracer-program.js';

export type TraceEventKind = 'received' | 'queued' | 'transmitted' | 'dropped' | 'freed' | 'icmp-send';

/** Why the tracer showed this event: the packet matched here, it is followed by its skb address, or it is an ICMP error about a matching packet. */
export type TraceMatch = 'matched' | 'followed' | 'icmp-error';

export interface TraceTuple {
  readonly family: 4 | 6;
  readonly src: string;
  readonly dst: string;
  /** IP protocol number (after IPv6 extension headers). */
  readonly protocol: number;
  readonly srcPort?: number;
  readonly dstPort?: number;
  /** The IP packet's length as its header states it. */
  readonly length: number;
  /** IPv4 identification; with the tuple, tells a re-sent packet from the one an ICMP error quotes. */
  readonly ident?: number;
  readonly dontFragment?: boolean;
  /** Set for a fragment: its offset in bytes and whether more follow. */
  readonly fragment?: { readonly offset: number; readonly more: boolean };
}

export interface TraceIcmp {
  readonly type: number;
  readonly code: number;
  /** The MTU an ICMPv4 fragmentation-needed or ICMPv6 Packet Too Big reports. */
  readonly mtu?: number;
  /** The packet the error quotes. */
  readonly quoted?: TraceTuple;
}

export interface TracedPacket {
  /** The outermost IP header. */
  readonly outer: TraceTuple;
  /** The packet inside a tunnel (VXLAN, GUE, GRE, IP-in-IP), when the first bytes reach it. */
  readonly inner?: TraceTuple;
  readonly tunnel?: string;
  readonly icmp?: TraceIcmp;
}

export interface TraceEvent {
  readonly kind: TraceEventKind;
  /** Monotonic kernel time (CLOCK_MONOTONIC), nanoseconds. */
  readonly timeNs: bigint;
  readonly cpu: number;
  /** The skb address, hex: how one packet is followed through the kernel. */
  readonly skb: string;
  /** Network namespace inode; 0 when the event does not say (transmit completions). */
  readonly netns: number;
  readonly ifindex: number;
  readonly device: string;
  /** skb->len at that point (with or without the link header, depending on where). */
  readonly skbLength: number;
  /** The device's MTU (0 when the event has no device). */
  readonly mtu: number;
  readonly match: TraceMatch;
  /** A followed packet that matches the filter here too (set only then). */
  readonly matchesHere?: boolean;
  readonly mark: number;
  readonly packet?: TracedPacket;
  /** Drops: the kernel's drop reason number and the function that freed the packet. */
  readonly reason?: number;
  readonly location?: string;
  /** icmp-send: what the kernel is about to send back about this packet. */
  readonly icmpSend?: { readonly type: number; readonly code: number };
  /** transmitted: the driver's return code (0 sent). */
  readonly rc?: number;
}

export type TraceLine =
  | { readonly type: 'attached'; readonly timeNs: bigint }
  | { readonly type: 'event'; readonly event: TraceEvent }
  | { readonly type: 'emitted'; readonly count: number }
  | { readonly type: 'lost'; readonly count: number }
  | { readonly type: 'message'; readonly text: string };

export interface TraceLineError {
  readonly field: string;
  readonly reason: string;
  readonly line: string;
}

export type ParsedTraceLine = { readonly ok: true; readonly value: TraceLine } | { readonly ok: false; readonly error: TraceLineError };

const KINDS: Readonly<Record<string, TraceEventKind>> = { rx: 'received', q: 'queued', drop: 'dropped', icmp: 'icmp-send' };
const MATCHES: Readonly<Record<string, TraceMatch>> = { '1': 'followed', '2': 'matched', '3': 'icmp-error', '4': 'followed' };
const HEADER_WORDS = HEADER_BYTES / 8;
/** E, kind, then 10 fixed fields and the header words; drops and icmp-send add two. */
const E_FIELDS = 2 + 10 + HEADER_WORDS;

class LineError extends Error {
  constructor(readonly field: string, reason: string) {
    super(reason);
  }
}

function decimal(text: string | undefined, field: string): number {
  if (text === undefined || !/^-?\d+$/.test(text)) throw new LineError(field, `"${text ?? ''}" is not a number`);
  return Number(text);
}

function hexBig(text: string | undefined, field: string): bigint {
  if (text === undefined || !/^[0-9a-f]{1,16}$/.test(text)) throw new LineError(field, `"${text ?? ''}" is not a hex word`);
  return BigInt(`0x${text}`);
}

function skbAddress(text: string | undefined): string {
  if (text === undefined || !/^[0-9a-f]{1,16}$/.test(text)) throw new LineError('skb', `"${text ?? ''}" is not an address`);
  return text;
}

/** The header words back to bytes: each is a little-endian 64-bit load. */
export function headerBytes(words: readonly bigint[]): Uint8Array {
  const out = new Uint8Array(words.length * 8);
  words.forEach((w, i) => {
    let x = w;
    for (let j = 0; j < 8; j++) {
      out[i * 8 + j] = Number(x & 0xffn);
      x >>= 8n;
    }
  });
  return out;
}

function tupleOf(layers: readonly Layer[], from: number): TraceTuple | undefined {
  const ip = layers[from];
  if (ip === undefined || (ip.protocol !== 'ipv4' && ip.protocol !== 'ipv6')) return undefined;
  const next = layers[from + 1];
  const ports =
    next !== undefined && next.depth === ip.depth && (next.protocol === 'tcp' || next.protocol === 'udp' || next.protocol === 'tcp-head')
      ? { srcPort: next.repr.srcPort, dstPort: next.repr.dstPort }
      : {};
  if (ip.protocol === 'ipv4') {
    const r = ip.repr;
    const header = 20 + r.options.length;
    return {
      family: 4,
      src: r.src,
      dst: r.dst,
      protocol: r.protocol,
      ...ports,
      length: header + r.payloadLength,
      ident: r.ident,
      dontFragment: r.dontFragment,
      ...(r.moreFragments || r.fragmentOffset > 0 ? { fragment: { offset: r.fragmentOffset, more: r.moreFragments } } : {}),
    };
  }
  const r = ip.repr;
  const fragment = ip.extensions.find((e) => e.kind === 'fragment');
  const last = ip.extensions[ip.extensions.length - 1];
  return {
    family: 6,
    src: r.src,
    dst: r.dst,
    protocol: last?.nextHeader ?? r.nextHeader,
    ...ports,
    length: 40 + r.payloadLength,
    ...(fragment !== undefined && fragment.kind === 'fragment'
      ? { ident: fragment.ident, fragment: { offset: fragment.fragmentOffset, more: fragment.moreFragments } }
      : {}),
  };
}

/** The packet in the first bytes of an skb's IP header, or undefined when they are not an IP packet. */
export function decodeTracedPacket(bytes: Uint8Array): TracedPacket | undefined {
  const version = (bytes[0] ?? 0) >> 4;
  if (version !== 4 && version !== 6) return undefined;
  // The words read past a short packet's end; the header says where it really ends.
  const claimed = version === 4 ? ((bytes[2]! << 8) | bytes[3]!) : ((bytes[4]! << 8) | bytes[5]!) + 40;
  const data = claimed > 0 && claimed < bytes.length ? bytes.subarray(0, claimed) : bytes;
  const frame = decodeFrame(LinkType.Raw, data, Math.max(claimed, data.length));
  const layers = frame.layers;
  const outer = tupleOf(layers, 0);
  if (outer === undefined) return undefined;
  let packet: TracedPacket = { outer };
  const icmpIndex = layers.findIndex((l) => l.depth === 0 && (l.protocol === 'icmpv4' || l.protocol === 'icmpv6'));
  if (icmpIndex >= 0) {
    const l = layers[icmpIndex]!;
    const quotedIndex = layers.findIndex((x) => x.quoted && (x.protocol === 'ipv4' || x.protocol === 'ipv6'));
    const quoted = quotedIndex >= 0 ? tupleOf(layers, quotedIndex) : undefined;
    const raw = data.subarray(l.offset);
    const type = raw[0] ?? 0;
    const code = raw[1] ?? 0;
    let mtu: number | undefined;
    if (l.protocol === 'icmpv4' && l.repr.kind === 'destination-unreachable' && l.repr.code === 4) mtu = l.repr.nextHopMtu;
    if (l.protocol === 'icmpv6' && l.repr.kind === 'packet-too-big') mtu = l.repr.mtu;
    packet = { ...packet, icmp: { type, code, ...(mtu === undefined ? {} : { mtu }), ...(quoted === undefined ? {} : { quoted }) } };
  }
  const tunnelIndex = layers.findIndex((l) => l.protocol === 'vxlan' || l.protocol === 'gue' || l.protocol === 'gre' || l.protocol === 'fou');
  const innerIndex = layers.findIndex((l) => l.depth === 1 && !l.quoted && (l.protocol === 'ipv4' || l.protocol === 'ipv6'));
  if (innerIndex >= 0) {
    const inner = tupleOf(layers, innerIndex);
    const tunnel = tunnelIndex >= 0 ? layers[tunnelIndex]!.protocol : outer.protocol === 4 || outer.protocol === 41 ? 'ip-in-ip' : 'tunnel';
    if (inner !== undefined) packet = { ...packet, inner, tunnel };
  }
  return packet;
}

function parseEvent(f: readonly string[]): TraceEvent {
  const kind = KINDS[f[1] ?? ''];
  if (kind === undefined) throw new LineError('kind', `unknown event "${f[1] ?? ''}"`);
  const extra = kind === 'dropped' || kind === 'icmp-send' ? 2 : 0;
  if (f.length !== E_FIELDS + extra) throw new LineError('fields', `${f.length} fields, expected ${E_FIELDS + extra}`);
  const match = MATCHES[f[9]!];
  if (match === undefined) throw new LineError('match', `"${f[9]!}" is not 1, 2, 3 or 4`);
  const words = f.slice(12, 12 + HEADER_WORDS).map((w, i) => hexBig(w, `header word ${i}`));
  const packet = decodeTracedPacket(headerBytes(words));
  const base = {
    kind,
    timeNs: BigInt(decimal(f[2], 'time') >= 0 ? f[2]! : '0'),
    cpu: decimal(f[3], 'cpu'),
    skb: skbAddress(f[4]),
    netns: decimal(f[5], 'netns'),
    ifindex: decimal(f[6], 'ifindex'),
    device: f[7] ?? '',
    skbLength: decimal(f[8], 'skb length'),
    match,
    ...(f[9] === '4' ? { matchesHere: true } : {}),
    mark: decimal(f[10], 'mark'),
    mtu: decimal(f[11], 'mtu'),
    ...(packet === undefined ? {} : { packet }),
  };
  const a = f[E_FIELDS];
  const b = f[E_FIELDS + 1];
  if (kind === 'dropped') return { ...base, reason: decimal(a, 'reason'), location: b ?? '' };
  if (kind === 'icmp-send') return { ...base, icmpSend: { type: decimal(a, 'icmp type'), code: decimal(b, 'icmp code') } };
  return base;
}

/** The fields a transmitted (T) or freed (F) line shares: time, CPU and skb after the letter; no packet bytes. */
function lineEvent(kind: 'transmitted' | 'freed', f: readonly string[], netns: number, device: string | undefined): TraceEvent {
  return {
    kind,
    timeNs: BigInt(decimal(f[1], 'time') >= 0 ? f[1]! : '0'),
    cpu: decimal(f[2], 'cpu'),
    skb: skbAddress(f[3]),
    netns,
    ifindex: 0,
    device: device ?? '',
    skbLength: 0,
    mtu: 0,
    match: 'followed',
    mark: 0,
  };
}

/** One line of the tracer's output. */
export function parseTraceLine(line: string): ParsedTraceLine {
  const f = line.split('\t');
  try {
    switch (f[0]) {
      case 'B':
        return { ok: true, value: { type: 'attached', timeNs: BigInt(decimal(f[1], 'time') >= 0 ? f[1]! : '0') } };
      case 'E':
        return { ok: true, value: { type: 'event', event: parseEvent(f) } };
      case 'T':
        if (f.length !== 7) throw new LineError('fields', `${f.length} fields, expected 7`);
        return { ok: true, value: { type: 'event', event: { ...lineEvent('transmitted', f, 0, f[4]), skbLength: decimal(f[5], 'length'), rc: decimal(f[6], 'rc') } } };
      case 'F':
        if (f.length !== 7) throw new LineError('fields', `${f.length} fields, expected 7`);
        return { ok: true, value: { type: 'event', event: { ...lineEvent('freed', f, decimal(f[4], 'netns'), f[5]), location: f[6] ?? '' } } };
      default:
        break;
    }
  } catch (err) {
    if (err instanceof LineError) return { ok: false, error: { field: err.field, reason: err.message, line } };
    throw err;
  }
  const emitted = /^@emitted:\s*(\d+)\s*$/.exec(line);
  if (emitted) return { ok: true, value: { type: 'emitted', count: Number(emitted[1]) } };
  const lost = /^Lost (\d+) events/.exec(line);
  if (lost) return { ok: true, value: { type: 'lost', count: Number(lost[1]) } };
  return { ok: true, value: { type: 'message', text: line } };
}
