import { put16, u16 } from './bytes.js';
import { type Decoded, fail, ok, short } from './result.js';

/**
 * The DNS message header and first question (RFC 1035 section 4.1), as much as the analyzer needs to tell a query
 * from its answer and a retry from a new query: id, QR, TC, RCODE and the question. Not a full DNS decoder: answer,
 * authority and additional records are not read.
 *
 * After `DnsMessage.check(bytes)` every accessor is in range; `question()` walks the name with its own bounds and
 * returns a DecodeError (compression pointers in a question are refused as RFC 1035 never needs them there, loops
 * impossible).
 */
export const DNS_PORT = 53;
export const DNS_HEADER = 12;
const MAX_NAME = 255;

const enum Field {
  Id = 0,
  Flags = 2,
  QdCount = 4,
  AnCount = 6,
  NsCount = 8,
  ArCount = 10,
}

export const DnsFlag = {
  Qr: 0x8000,
  Aa: 0x0400,
  Tc: 0x0200,
  Rd: 0x0100,
  Ra: 0x0080,
} as const;

export class DnsMessage {
  private constructor(readonly bytes: Uint8Array) {}

  static check(bytes: Uint8Array): Decoded<DnsMessage> {
    if (bytes.length < DNS_HEADER) return short('dns', 'header', 0, `needs ${DNS_HEADER} bytes, buffer has ${bytes.length}`);
    return ok(new DnsMessage(bytes));
  }

  get id(): number {
    return u16(this.bytes, Field.Id);
  }
  get flags(): number {
    return u16(this.bytes, Field.Flags);
  }
  /** A response (QR set). */
  get response(): boolean {
    return (this.flags & DnsFlag.Qr) !== 0;
  }
  /** The answer was cut to fit the client's buffer (TC). */
  get truncated(): boolean {
    return (this.flags & DnsFlag.Tc) !== 0;
  }
  get opcode(): number {
    return (this.flags >> 11) & 0x0f;
  }
  get rcode(): number {
    return this.flags & 0x0f;
  }
  get questionCount(): number {
    return u16(this.bytes, Field.QdCount);
  }
  get answerCount(): number {
    return u16(this.bytes, Field.AnCount);
  }

  /** The first question, if the message has one. */
  question(): Decoded<DnsQuestion | undefined> {
    if (this.questionCount === 0) return ok(undefined);
    const b = this.bytes;
    const labels: string[] = [];
    let o = DNS_HEADER;
    let length = 0;
    for (;;) {
      if (o >= b.length) return short('dns', 'qname', o, `name runs past the end of the ${b.length}-byte message`);
      const n = b[o]!;
      if (n === 0) {
        o++;
        break;
      }
      if ((n & 0xc0) !== 0) return fail('dns', 'qname', o, `label length byte 0x${n.toString(16)} is a compression pointer or reserved`);
      if (o + 1 + n > b.length) return short('dns', 'qname', o, `label of ${n} bytes runs past the end of the ${b.length}-byte message`);
      length += n + 1;
      if (length > MAX_NAME) return fail('dns', 'qname', o, `name longer than ${MAX_NAME} bytes`);
      labels.push(labelText(b.subarray(o + 1, o + 1 + n)));
      o += 1 + n;
    }
    if (o + 4 > b.length) return short('dns', 'qtype', o, `question type and class need 4 bytes, ${b.length - o} left`);
    return ok({ name: labels.length === 0 ? '.' : labels.join('.'), type: u16(b, o), class: u16(b, o + 2) });
  }
}

export interface DnsQuestion {
  /** Labels joined with dots, lower case as received; bytes outside printable ASCII as \DDD (RFC 4343). */
  readonly name: string;
  readonly type: number;
  readonly class: number;
}

export interface DnsHeaderRepr {
  readonly id: number;
  readonly response: boolean;
  readonly opcode: number;
  readonly authoritative: boolean;
  readonly truncated: boolean;
  readonly recursionDesired: boolean;
  readonly recursionAvailable: boolean;
  readonly rcode: number;
  readonly questionCount: number;
  readonly answerCount: number;
  readonly authorityCount: number;
  readonly additionalCount: number;
}

export interface DnsRepr {
  readonly header: DnsHeaderRepr;
  readonly question: DnsQuestion | undefined;
}

export function parseDnsHeader(m: DnsMessage): DnsHeaderRepr {
  const f = m.flags;
  return {
    id: m.id,
    response: m.response,
    opcode: m.opcode,
    authoritative: (f & DnsFlag.Aa) !== 0,
    truncated: m.truncated,
    recursionDesired: (f & DnsFlag.Rd) !== 0,
    recursionAvailable: (f & DnsFlag.Ra) !== 0,
    rcode: m.rcode,
    questionCount: m.questionCount,
    answerCount: m.answerCount,
    authorityCount: u16(m.bytes, Field.NsCount),
    additionalCount: u16(m.bytes, Field.ArCount),
  };
}

/** Header and first question; a question that cannot be read is the error. */
export function parseDns(m: DnsMessage): Decoded<DnsRepr> {
  const q = m.question();
  if (!q.ok) return q;
  return ok({ header: parseDnsHeader(m), question: q.value });
}

/**
 * The header and (when given) one question, followed by `rest` (records, or filler for an answer of a given size).
 * The counts are written as the header says, whatever `rest` holds: tests build large answers this way.
 */
export function emitDns(repr: DnsRepr, rest: Uint8Array = new Uint8Array(0)): Uint8Array {
  const h = repr.header;
  const name = repr.question === undefined ? new Uint8Array(0) : emitName(repr.question.name);
  const q = repr.question === undefined ? 0 : name.length + 4;
  const out = new Uint8Array(DNS_HEADER + q + rest.length);
  put16(out, Field.Id, h.id);
  const flags =
    (h.response ? DnsFlag.Qr : 0) |
    ((h.opcode & 0x0f) << 11) |
    (h.authoritative ? DnsFlag.Aa : 0) |
    (h.truncated ? DnsFlag.Tc : 0) |
    (h.recursionDesired ? DnsFlag.Rd : 0) |
    (h.recursionAvailable ? DnsFlag.Ra : 0) |
    (h.rcode & 0x0f);
  put16(out, Field.Flags, flags);
  put16(out, Field.QdCount, h.questionCount);
  put16(out, Field.AnCount, h.answerCount);
  put16(out, Field.NsCount, h.authorityCount);
  put16(out, Field.ArCount, h.additionalCount);
  if (repr.question !== undefined) {
    out.set(name, DNS_HEADER);
    put16(out, DNS_HEADER + name.length, repr.question.type);
    put16(out, DNS_HEADER + name.length + 2, repr.question.class);
  }
  out.set(rest, DNS_HEADER + q);
  return out;
}

function emitName(name: string): Uint8Array {
  const labels = name === '.' || name === '' ? [] : name.replace(/\.$/, '').split('.');
  const parts: number[] = [];
  for (const label of labels) {
    const bytes = new TextEncoder().encode(label);
    if (bytes.length === 0 || bytes.length > 63) throw new RangeError(`DNS label "${label}" must have 1 to 63 bytes`);
    parts.push(bytes.length, ...bytes);
  }
  parts.push(0);
  if (parts.length > MAX_NAME) throw new RangeError(`DNS name "${name}" is longer than ${MAX_NAME} bytes`);
  return Uint8Array.from(parts);
}

function labelText(b: Uint8Array): string {
  let s = '';
  for (const c of b) {
    if (c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c) s += String.fromCharCode(c);
    else s += `\\${String(c).padStart(3, '0')}`;
  }
  return s;
}
