/**
 * What changed between a packet we sent and the copy of it a router quotes in an ICMP error (the tracebox method,
 * Detal et al., IMC 2013). The quote is the packet as it reached that router, so every field that differs from what
 * we sent was changed on the way there: by a middlebox (MSS clamping, DSCP/ECN rewriting, NAT, a proxy), or by the
 * routers themselves where that is expected (the TTL, the IPv4 header checksum).
 *
 * A router may quote only the IP header and the first 8 bytes of the transport header (RFC 792); Linux quotes up to
 * 576 bytes of IPv4 (RFC 1812) and up to 1280 of IPv6 (RFC 4443), a whole probe. Every field is therefore reported
 * with a status: `same`, `changed`, or `not-quoted` when the quote ends before it: never a guess for what is not
 * there.
 *
 * Pure: bytes in, a value out; malformed bytes give a DecodeError value (src/packet/result.ts).
 */
import { formatIp } from '../packet/address.js';
import { u16, u32 } from '../packet/bytes.js';
import type { IpFamily } from '../packet/ip-family.js';
import { IpProtocol } from '../packet/ip-protocol.js';
import { Ipv4Packet } from '../packet/ipv4.js';
import { IPV6_HEADER, Ipv6Packet } from '../packet/ipv6.js';
import { walkIpv6Extensions } from '../packet/ipv6-ext.js';
import { type Decoded, fail, ok } from '../packet/result.js';
import { parseTcp, TCP_MIN_HEADER, TcpPacket } from '../packet/tcp.js';
import { sum16, pseudoHeaderSum, sumVerifies } from '../packet/checksum.js';
import type { TcpOption } from '../packet/tcp-options.js';

/**
 * The fields compared. `ip.*` are of the IP header (for IPv6 `ip.ttl` is the hop limit and `ip.length` the payload
 * length), `tcp.*` of the TCP header; `tcp.mss` … `tcp.option-N` are the TCP options (N the kind of an option the
 * codec has no name for), `tcp.options-layout` the kinds in wire order, NOP and End included.
 */
export type QuoteField =
  | 'ip.dscp'
  | 'ip.ecn'
  | 'ip.ttl'
  | 'ip.ident'
  | 'ip.df'
  | 'ip.length'
  | 'ip.options'
  | 'ip.flow-label'
  | 'ip.extension-headers'
  | 'ip.src'
  | 'ip.dst'
  | 'tcp.src-port'
  | 'tcp.dst-port'
  | 'tcp.seq'
  | 'tcp.ack'
  | 'tcp.data-offset'
  | 'tcp.flags'
  | 'tcp.window'
  | 'tcp.checksum'
  | 'tcp.urgent'
  | 'tcp.mss'
  | 'tcp.window-scale'
  | 'tcp.sack-permitted'
  | 'tcp.timestamps'
  | `tcp.option-${number}`
  | 'tcp.options-layout';

/**
 * Fields whose change follows from another's (a removed option shortens the header, the lengths and the checksum):
 * shown in a hop's table, but no finding of their own unless nothing else explains them.
 */
export const DERIVED_FIELDS: ReadonlySet<QuoteField> = new Set<QuoteField>(['ip.length', 'tcp.data-offset', 'tcp.checksum', 'tcp.options-layout']);

/** A field's value; `null` is "absent" (an option not in the header). */
export type FieldValue = number | string | boolean | null;

/**
 * `same`: quoted as expected. `changed`: quoted with another value. `not-quoted`: the quote ends before the field
 * (cannot tell). `not-compared`: quoted, but nothing says what to expect (the TTL in a quote that is not a Time
 * Exceeded's).
 */
export type FieldStatus = 'same' | 'changed' | 'not-quoted' | 'not-compared';

export interface FieldDiff {
  readonly field: QuoteField;
  /** The value in the packet we sent. */
  readonly sent: FieldValue;
  /** The value an unchanged packet would show in the quote (differs from `sent` only for the TTL). */
  readonly expected: FieldValue;
  /** Absent when the quote ends before the field. */
  readonly quoted?: FieldValue;
  readonly status: FieldStatus;
}

export interface QuoteDiff {
  readonly family: IpFamily;
  /** Bytes of the quoted packet present (at most its total length). */
  readonly quotedBytes: number;
  /** The quote ends before the end of the TCP header it quotes (an RFC 792 quote of 8 TCP bytes, for one). */
  readonly partial: boolean;
  /** Bytes of the TCP header present in the quote. */
  readonly tcpBytes: number;
  /**
   * Whether the quoted TCP checksum is right for the quoted bytes and addresses; undefined when the quote does not
   * hold the whole segment. A changed field with a checksum that still verifies was changed by something that fixed
   * the checksum (TCPMSS, NAT); one that does not verify was changed in the quote only or without care.
   */
  readonly tcpChecksumVerifies?: boolean;
  readonly fields: readonly FieldDiff[];
}

/** What kind of ICMP error carried the quote: only a Time Exceeded tells what TTL to expect (1, or 0 from routers that decrement first). */
export type QuoteKind = 'time-exceeded' | 'other';

export function changedFields(diff: QuoteDiff): FieldDiff[] {
  return diff.fields.filter((f) => f.status === 'changed');
}

export function notQuotedFields(diff: QuoteDiff): FieldDiff[] {
  return diff.fields.filter((f) => f.status === 'not-quoted');
}

export function fieldOf(diff: QuoteDiff, field: QuoteField): FieldDiff | undefined {
  return diff.fields.find((f) => f.field === field);
}

/** The IP layer of either family, reduced to what is compared, and where its TCP segment starts. */
interface IpFields {
  readonly family: IpFamily;
  readonly values: ReadonlyMap<QuoteField, FieldValue>;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  /** Bytes of the TCP segment present, and the length the IP header claims for it. */
  readonly tcp: Uint8Array;
  readonly tcpClaimed: number;
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function ipFields(bytes: Uint8Array, role: 'sent' | 'quoted'): Decoded<IpFields> {
  const version = bytes.length === 0 ? 0 : bytes[0]! >> 4;
  if (version === 4) {
    const checked = Ipv4Packet.check(bytes);
    if (!checked.ok) return checked;
    const p = checked.value;
    if (p.protocol !== IpProtocol.Tcp) return fail('ipv4', 'protocol', 9, `the ${role} packet is protocol ${p.protocol}, not TCP`);
    if (p.fragmentOffset !== 0) return fail('ipv4', 'fragment_offset', 6, `the ${role} packet is a non-first fragment`);
    const values = new Map<QuoteField, FieldValue>([
      ['ip.dscp', p.dscp],
      ['ip.ecn', p.ecn],
      ['ip.ttl', p.ttl],
      ['ip.ident', p.ident],
      ['ip.df', p.dontFragment],
      ['ip.length', p.totalLength],
      ['ip.options', hex(p.options)],
      ['ip.src', formatIp(p.src)],
      ['ip.dst', formatIp(p.dst)],
    ]);
    return ok({ family: 4, values, src: p.src, dst: p.dst, tcp: p.payload(), tcpClaimed: p.totalLength - p.headerLength });
  }
  if (version === 6) {
    const checked = Ipv6Packet.check(bytes);
    if (!checked.ok) return checked;
    const p = checked.value;
    const chain = walkIpv6Extensions(p);
    if (!chain.ok) return chain;
    const c = chain.value;
    if (!c.upperPresent || c.upperProtocol !== IpProtocol.Tcp) {
      return fail('ipv6', 'next_header', 6, `the ${role} packet carries no TCP header after its extension headers`);
    }
    const values = new Map<QuoteField, FieldValue>([
      ['ip.dscp', p.trafficClass >> 2],
      ['ip.ecn', p.trafficClass & 3],
      ['ip.ttl', p.hopLimit],
      ['ip.flow-label', p.flowLabel],
      ['ip.length', p.payloadLength],
      ['ip.extension-headers', c.headers.map((h) => h.kind).join(',')],
      ['ip.src', formatIp(p.src)],
      ['ip.dst', formatIp(p.dst)],
    ]);
    const end = IPV6_HEADER + p.payloadLength;
    return ok({
      family: 6,
      values,
      src: p.src,
      dst: p.dst,
      tcp: bytes.subarray(c.upperOffset, Math.min(end, bytes.length)),
      tcpClaimed: end - c.upperOffset,
    });
  }
  return fail('ip', 'version', 0, `the ${role} packet's version is ${version}, neither 4 nor 6`);
}

/** The fixed fields of a TCP header, each with the bytes it needs, so that a quote cut anywhere still yields what it holds. */
const TCP_FIXED: readonly { readonly field: QuoteField; readonly end: number; readonly read: (b: Uint8Array) => FieldValue }[] = [
  { field: 'tcp.src-port', end: 2, read: (b) => u16(b, 0) },
  { field: 'tcp.dst-port', end: 4, read: (b) => u16(b, 2) },
  { field: 'tcp.seq', end: 8, read: (b) => u32(b, 4) },
  { field: 'tcp.ack', end: 12, read: (b) => u32(b, 8) },
  { field: 'tcp.data-offset', end: 13, read: (b) => (b[12]! >> 4) * 4 },
  { field: 'tcp.flags', end: 14, read: (b) => u16(b, 12) & 0x0fff },
  { field: 'tcp.window', end: 16, read: (b) => u16(b, 14) },
  { field: 'tcp.checksum', end: 18, read: (b) => u16(b, 16) },
  { field: 'tcp.urgent', end: 20, read: (b) => u16(b, 18) },
];

function optionField(o: TcpOption): QuoteField | undefined {
  switch (o.kind) {
    case 'mss':
      return 'tcp.mss';
    case 'window-scale':
      return 'tcp.window-scale';
    case 'sack-permitted':
      return 'tcp.sack-permitted';
    case 'timestamps':
      return 'tcp.timestamps';
    case 'unknown':
      return `tcp.option-${o.type}`;
    default:
      return undefined;
  }
}

function optionValue(o: TcpOption): FieldValue {
  switch (o.kind) {
    case 'mss':
      return o.value;
    case 'window-scale':
      return o.shift;
    case 'sack-permitted':
      return true;
    case 'timestamps':
      return `TSval ${o.value} TSecr ${o.echo}`;
    case 'unknown':
      return hex(o.data);
    default:
      return null;
  }
}

function layout(options: readonly TcpOption[]): string {
  return options.map((o) => (o.kind === 'unknown' ? `kind-${o.type}` : o.kind)).join(',');
}

/** The options of a TCP header, first occurrence of each kind, and whether the whole options area was there. */
interface TcpOptionsRead {
  readonly values: ReadonlyMap<QuoteField, FieldValue>;
  readonly order: readonly QuoteField[];
  readonly layout: string;
  readonly whole: boolean;
}

function readOptions(tcp: Uint8Array, claimed: number, role: 'sent' | 'quoted'): Decoded<TcpOptionsRead | undefined> {
  if (tcp.length < TCP_MIN_HEADER) return ok(undefined);
  const view = TcpPacket.checkCut(tcp, claimed);
  if (!view.ok) return view;
  const parsed = parseTcp(view.value);
  if (!parsed.ok) return fail('tcp', parsed.error.field, parsed.error.offset, `the ${role} header's options: ${parsed.error.reason}`);
  const values = new Map<QuoteField, FieldValue>();
  const order: QuoteField[] = [];
  for (const o of parsed.value.options) {
    const field = optionField(o);
    if (field === undefined || values.has(field)) continue;
    values.set(field, optionValue(o));
    order.push(field);
  }
  return ok({ values, order, layout: layout(parsed.value.options), whole: !view.value.headerCut });
}

function tcpChecksumVerifies(ip: IpFields): boolean | undefined {
  if (ip.tcp.length < ip.tcpClaimed) return undefined;
  return sumVerifies(sum16(ip.tcp, 0, ip.tcpClaimed, pseudoHeaderSum(ip.src, ip.dst, IpProtocol.Tcp, ip.tcpClaimed)));
}

function compare(field: QuoteField, sent: FieldValue, quoted: FieldValue | undefined, expected: FieldValue = sent): FieldDiff {
  if (quoted === undefined) return { field, sent, expected, status: 'not-quoted' };
  return { field, sent, expected, quoted, status: quoted === expected ? 'same' : 'changed' };
}

/**
 * A router quotes the packet as it arrived, with TTL 1 when the TTL ran out there; some decrement first and quote 0.
 * Anything larger means a hop on the way did not decrement it (a hidden hop: an MPLS tunnel that does not propagate
 * the TTL, a transparent middlebox) or something rewrote it.
 */
function compareTtl(sent: FieldValue, quoted: FieldValue | undefined, kind: QuoteKind): FieldDiff {
  const field: QuoteField = 'ip.ttl';
  if (quoted === undefined) return { field, sent, expected: 1, status: 'not-quoted' };
  if (kind !== 'time-exceeded') return { field, sent, expected: null, quoted, status: 'not-compared' };
  return { field, sent, expected: 1, quoted, status: quoted === 1 || quoted === 0 ? 'same' : 'changed' };
}

/**
 * Compares `sent` (the whole IP packet we sent, TCP inside) with `quoted` (the bytes an ICMP error quotes, from the
 * quoted IP header on; possibly cut). Fails when either is not an IP packet carrying TCP, when the families differ, or
 * when the quote is too short for its own IP header: then it is not a quote of this probe at all.
 */
export function diffQuote(sent: Uint8Array, quoted: Uint8Array, kind: QuoteKind): Decoded<QuoteDiff> {
  const s = ipFields(sent, 'sent');
  if (!s.ok) return s;
  const q = ipFields(quoted, 'quoted');
  if (!q.ok) return q;
  if (s.value.family !== q.value.family) {
    return fail('quote', 'version', 0, `the quote is IPv${q.value.family}, the probe was IPv${s.value.family}`);
  }
  if (s.value.tcp.length < s.value.tcpClaimed || s.value.tcp.length < TCP_MIN_HEADER) {
    return fail('quote', 'sent', 0, 'the sent packet is not whole');
  }
  const fields: FieldDiff[] = [];
  for (const [field, value] of s.value.values) {
    const quotedValue = q.value.values.get(field);
    if (field !== 'ip.ttl') fields.push(compare(field, value, quotedValue));
    else fields.push(compareTtl(value, quotedValue, kind));
  }

  const sTcp = s.value.tcp;
  const qTcp = q.value.tcp;
  for (const f of TCP_FIXED) {
    fields.push(compare(f.field, f.read(sTcp), qTcp.length >= f.end ? f.read(qTcp) : undefined));
  }

  const so = readOptions(sTcp, s.value.tcpClaimed, 'sent');
  if (!so.ok) return so;
  const qo = readOptions(qTcp, q.value.tcpClaimed, 'quoted');
  if (!qo.ok) return qo;
  const sentOptions = so.value!;
  const quotedOptions = qo.value;
  const optionFields = [...sentOptions.order, ...(quotedOptions?.order ?? []).filter((f) => !sentOptions.values.has(f))];
  for (const field of optionFields) {
    const sentValue = sentOptions.values.get(field) ?? null;
    let quotedValue: FieldValue | undefined;
    if (quotedOptions?.values.has(field) === true) quotedValue = quotedOptions.values.get(field)!;
    else if (quotedOptions?.whole === true) quotedValue = null;
    fields.push(compare(field, sentValue, quotedValue));
  }
  fields.push(compare('tcp.options-layout', sentOptions.layout, quotedOptions?.whole === true ? quotedOptions.layout : undefined));

  const dataOffset = qTcp.length >= 13 ? (qTcp[12]! >> 4) * 4 : TCP_MIN_HEADER;
  const verifies = tcpChecksumVerifies(q.value);
  const diff: QuoteDiff = {
    family: s.value.family,
    quotedBytes: q.value.tcp.byteOffset - quoted.byteOffset + qTcp.length,
    partial: qTcp.length < Math.max(dataOffset, TCP_MIN_HEADER),
    tcpBytes: qTcp.length,
    fields,
  };
  return ok(verifies === undefined ? diff : { ...diff, tcpChecksumVerifies: verifies });
}
