/**
 * The filter of `mtuscope trace`: the common terms of pcap-filter(7), parsed into a tree that tracer-program.ts
 * compiles into the tracer's predicates.
 *
 * Supported: `host A`, `src host A`, `dst host A`, `src A`, `dst A` (and `src or dst`, `src and dst`), `net P/L`
 * (with src/dst), `port N` (with src/dst), `proto tcp|udp|icmp|icmp6|N`, the bare `tcp`, `udp`, `icmp`, `icmp6`,
 * `ip`, `ip6`, `len OP N` (OP one of < <= > >= = == !=), `greater N`, `less N`; `and`/`&&`, `or`/`||`, `not`/`!`,
 * parentheses, with pcap's precedence (not first; and/or equal, left to right); and pcap's shorthand `host A or B`,
 * `tcp port 80 or 443` (a bare value repeats the previous term's kind, direction and protocol).
 * Anything else is an error naming the term and where it stands, never a silently wider or narrower filter.
 *
 * `len` is the IP packet's length (the IP header's total length, or the IPv6 payload length plus 40): it is the
 * same at every point of the path, whereas pcap's `len` counts the link header of the capture's interface.
 */
import { formatIp, parseIpv4Text, parseIpv6Text } from '../packet/address.js';
import { formatCidr, networkOf, parseCidr } from '../packet/cidr.js';
import type { IpFamily } from '../packet/ip-family.js';

export type Direction = 'src' | 'dst' | 'src-or-dst' | 'src-and-dst';
export type LengthOperator = '<' | '<=' | '>' | '>=' | '==' | '!=';

export type FilterExpr =
  | { readonly kind: 'and' | 'or'; readonly left: FilterExpr; readonly right: FilterExpr }
  | { readonly kind: 'not'; readonly operand: FilterExpr }
  | { readonly kind: 'host'; readonly direction: Direction; readonly family: IpFamily; readonly address: Uint8Array }
  | { readonly kind: 'net'; readonly direction: Direction; readonly family: IpFamily; readonly address: Uint8Array; readonly prefixLength: number }
  | { readonly kind: 'port'; readonly direction: Direction; readonly port: number }
  | { readonly kind: 'proto'; readonly protocol: number; readonly family?: IpFamily }
  | { readonly kind: 'family'; readonly family: IpFamily }
  | { readonly kind: 'len'; readonly operator: LengthOperator; readonly value: number };

export interface FilterError {
  /** The word of the filter that could not be compiled (or "" at the end of the filter). */
  readonly term: string;
  /** Character offset of that word in the filter text. */
  readonly offset: number;
  readonly reason: string;
}

export type ParsedFilter = { readonly ok: true; readonly expr: FilterExpr | undefined } | { readonly ok: false; readonly error: FilterError };

export const SUPPORTED_TERMS =
  'host, src/dst host, net, port, proto tcp|udp|icmp|icmp6|N, tcp, udp, icmp, icmp6, ip, ip6, len OP N, greater N, less N, and, or, not, ( )';

/** pcap keywords we know but do not compile: named so that the error says "not supported", not "unknown". */
const KNOWN_UNSUPPORTED = new Set([
  'ether', 'vlan', 'mpls', 'arp', 'rarp', 'portrange', 'gateway', 'broadcast', 'multicast', 'inbound', 'outbound',
  'sctp', 'ifname', 'on', 'rnr', 'reason', 'rset', 'srnr', 'subrule', 'action', 'wlan', 'type', 'subtype', 'dir',
  'pppoed', 'pppoes', 'geneve', 'iso', 'esis', 'isis', 'clnp', 'atalk', 'aarp', 'decnet', 'lat', 'sca', 'moprc',
  'mopdl', 'ipx', 'netbeui', 'stp', 'fddi', 'tr', 'wlan', 'llc', 'ah', 'esp', 'pim', 'vrrp', 'carp', 'igmp', 'igrp',
  'protochain', 'mask', 'link', 'ppp', 'slip', 'radio',
]);

const PROTOCOLS: Readonly<Record<string, { protocol: number; family?: IpFamily }>> = {
  tcp: { protocol: 6 },
  udp: { protocol: 17 },
  icmp: { protocol: 1, family: 4 },
  icmp6: { protocol: 58, family: 6 },
};

interface Token {
  readonly text: string;
  readonly offset: number;
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  const re = /\s*(\(|\)|&&|\|\||!=|==|<=|>=|<|>|=|!|[^\s()!<>=&|]+|[&|])/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (m[1] === undefined) break;
    tokens.push({ text: m[1], offset: m.index + m[0].length - m[1].length });
  }
  return tokens;
}

class FilterSyntaxError extends Error {
  constructor(readonly filterError: FilterError) {
    super(filterError.reason);
  }
}

type PrimitiveKind = 'host' | 'net' | 'port';

/** Recursive descent over pcap's grammar: not binds tighter than and/or, which are of equal precedence and left-associative. */
class Parser {
  private position = 0;
  /**
   * What a bare value after and/or stands for (pcap: "host a or b" is "host a or host b"; "tcp port 80 or 443" is
   * "tcp port 80 or tcp port 443": the protocol or family before the term is repeated too).
   */
  private previous: { kind: PrimitiveKind; direction: Direction; qualifier?: FilterExpr } | undefined;

  constructor(
    private readonly tokens: readonly Token[],
    private readonly length: number,
  ) {}

  parse(): FilterExpr | undefined {
    if (this.tokens.length === 0) return undefined;
    const expr = this.parseOr();
    const extra = this.peek();
    if (extra !== undefined) this.fail(extra, `unexpected "${extra.text}" after a complete filter (join terms with "and" or "or")`);
    return expr;
  }

  private peek(): Token | undefined {
    return this.tokens[this.position];
  }

  private next(): Token | undefined {
    const t = this.tokens[this.position];
    if (t !== undefined) this.position++;
    return t;
  }

  private fail(token: Token | undefined, reason: string): never {
    throw new FilterSyntaxError({ term: token?.text ?? '', offset: token?.offset ?? this.length, reason });
  }

  private expect(what: string): Token {
    const t = this.next();
    if (t === undefined) this.fail(undefined, `the filter ends where ${what} was expected`);
    return t;
  }

  private isWord(t: Token | undefined, ...words: string[]): boolean {
    return t !== undefined && words.includes(t.text.toLowerCase());
  }

  /** pcap: "and" and "or" have the same precedence and associate to the left ("a or b and c" is "(a or b) and c"). */
  private parseOr(): FilterExpr {
    let left = this.parseNot();
    for (;;) {
      const t = this.peek();
      const kind = this.isWord(t, 'or', '||') ? 'or' : this.isWord(t, 'and', '&&') ? 'and' : undefined;
      if (kind === undefined) return left;
      this.next();
      left = { kind, left, right: this.parseNot() };
    }
  }

  private parseNot(): FilterExpr {
    if (this.isWord(this.peek(), 'not', '!')) {
      this.next();
      return { kind: 'not', operand: this.parseNot() };
    }
    return this.parsePrimary();
  }

  private parsePrimary(): FilterExpr {
    const t = this.expect('a term');
    const word = t.text.toLowerCase();
    if (word === '(') {
      const inner = this.parseOr();
      const close = this.next();
      if (close?.text !== ')') this.fail(close, close === undefined ? 'a "(" is never closed' : `expected ")" but found "${close.text}"`);
      return inner;
    }
    if (word === ')' || word === 'and' || word === 'or' || word === '&&' || word === '||') this.fail(t, `"${t.text}" where a term was expected`);
    if (word === 'src' || word === 'dst') return this.parseDirected(t);
    if (word === 'host' || word === 'net' || word === 'port') return this.parseValue(word, 'src-or-dst', this.expect(`the value of "${word}"`));
    if (word === 'proto') return this.parseProto(this.expect('a protocol after "proto"'));
    if (word === 'ip' || word === 'ip6') {
      const family: IpFamily = word === 'ip' ? 4 : 6;
      if (this.isWord(this.peek(), 'proto')) {
        this.next();
        const proto = this.parseProto(this.expect('a protocol after "proto"'));
        return { kind: 'and', left: { kind: 'family', family }, right: proto };
      }
      if (this.isWord(this.peek(), 'host', 'net', 'src', 'dst')) return this.qualified({ kind: 'family', family });
      return { kind: 'family', family };
    }
    if (word in PROTOCOLS) {
      if (this.isWord(this.peek(), 'port', 'src', 'dst')) return this.qualified(this.protoTerm(word));
      return this.protoTerm(word);
    }
    if (word === 'len') return this.parseLen(t);
    if (word === 'greater' || word === 'less') {
      const value = this.number(this.expect(`a length after "${word}"`), 0, 65535, 'a length');
      return { kind: 'len', operator: word === 'greater' ? '>=' : '<=', value };
    }
    if (KNOWN_UNSUPPORTED.has(word) || /^[a-z]+\[/.test(word)) {
      this.fail(t, `"${t.text}" is not supported by mtuscope trace (supported: ${SUPPORTED_TERMS})`);
    }
    const previous = this.previous;
    if (previous !== undefined && /^[0-9a-f.:/]+$/i.test(word)) {
      const value = this.parseValue(previous.kind, previous.direction, t);
      this.previous = previous;
      return previous.qualifier === undefined ? value : { kind: 'and', left: previous.qualifier, right: value };
    }
    this.fail(t, `unknown term "${t.text}" (supported: ${SUPPORTED_TERMS})`);
  }

  /** A protocol or family before a host, net or port term ("tcp port 80", "ip src 10.0.0.1"): both must hold. */
  private qualified(qualifier: FilterExpr): FilterExpr {
    const term = this.parsePrimary();
    if (this.previous !== undefined) this.previous = { ...this.previous, qualifier };
    return { kind: 'and', left: qualifier, right: term };
  }

  private protoTerm(word: string): FilterExpr {
    const p = PROTOCOLS[word]!;
    return p.family === undefined ? { kind: 'proto', protocol: p.protocol } : { kind: 'proto', protocol: p.protocol, family: p.family };
  }

  private parseDirected(first: Token): FilterExpr {
    let direction: Direction = first.text.toLowerCase() === 'src' ? 'src' : 'dst';
    const joiner = this.peek();
    if (this.isWord(joiner, 'or', 'and') && this.isWord(this.tokens[this.position + 1], 'src', 'dst')) {
      const second = this.tokens[this.position + 1]!.text.toLowerCase();
      if (second === first.text.toLowerCase()) this.fail(this.tokens[this.position + 1], `"${first.text} ${joiner!.text} ${second}" names the same direction twice`);
      direction = joiner!.text.toLowerCase() === 'or' ? 'src-or-dst' : 'src-and-dst';
      this.position += 2;
    }
    const kindToken = this.peek();
    if (this.isWord(kindToken, 'host', 'net', 'port')) {
      this.next();
      const kind = kindToken!.text.toLowerCase() as PrimitiveKind;
      return this.parseValue(kind, direction, this.expect(`the value of "${kind}"`));
    }
    // pcap: "src 10.0.0.1" is "src host 10.0.0.1".
    return this.parseValue('host', direction, this.expect(`an address after "${first.text}"`));
  }

  private parseValue(kind: PrimitiveKind, direction: Direction, t: Token): FilterExpr {
    this.previous = { kind, direction };
    if (kind === 'port') return { kind: 'port', direction, port: this.number(t, 0, 65535, 'a port number (names are not looked up)') };
    if (kind === 'net' || t.text.includes('/')) {
      const cidr = parseCidr(t.text);
      if (cidr === undefined) {
        this.fail(t, kind === 'net' ? `"${t.text}" is not a network: write an address with its prefix length, e.g. 10.0.0.0/8 or fd00::/8` : `"${t.text}" is not an address or network`);
      }
      // As libpcap: bits set beyond the prefix are more likely a typo (or a host meant) than the network they mask to.
      const network = networkOf(cidr);
      if (!network.address.every((b, i) => b === cidr.address[i])) this.fail(t, `"${t.text}" has bits set beyond its /${cidr.prefixLength}: write ${formatCidr(network)}, or host ${formatIp(cidr.address)}`);
      return { kind: 'net', direction, family: cidr.family, address: cidr.address, prefixLength: cidr.prefixLength };
    }
    const v4 = parseIpv4Text(t.text);
    if (v4 !== undefined) return { kind: 'host', direction, family: 4, address: v4 };
    const v6 = t.text.includes(':') ? parseIpv6Text(t.text) : undefined;
    if (v6 !== undefined) return { kind: 'host', direction, family: 6, address: v6 };
    this.fail(t, `"${t.text}" is not an IPv4 or IPv6 address (host names are not resolved)`);
  }

  private parseProto(t: Token): FilterExpr {
    const word = t.text.toLowerCase();
    if (word in PROTOCOLS) return this.protoTerm(word);
    if (/^\d+$/.test(word)) return { kind: 'proto', protocol: this.number(t, 0, 255, 'a protocol number 0-255') };
    this.fail(t, `"${t.text}" is not a protocol this filter knows (tcp, udp, icmp, icmp6 or a number 0-255)`);
  }

  private parseLen(first: Token): FilterExpr {
    const op = this.expect('a comparison after "len" (<, <=, >, >=, =, !=)');
    const operators: Readonly<Record<string, LengthOperator>> = { '<': '<', '<=': '<=', '>': '>', '>=': '>=', '=': '==', '==': '==', '!=': '!=' };
    const operator = operators[op.text];
    if (operator === undefined) this.fail(op, `"len" needs a comparison (<, <=, >, >=, =, !=), not "${op.text}" (after "${first.text}")`);
    return { kind: 'len', operator, value: this.number(this.expect('a length'), 0, 65535, 'a length') };
  }

  private number(t: Token, min: number, max: number, what: string): number {
    if (!/^\d+$/.test(t.text)) this.fail(t, `"${t.text}" is not ${what}`);
    // pcap reads "010" as octal 8: the same text must not silently mean 10 here.
    if (/^0\d/.test(t.text)) this.fail(t, `"${t.text}" has a leading zero, which pcap reads as octal: write ${what} without it`);
    const value = Number(t.text);
    if (value < min || value > max) this.fail(t, `${t.text} is out of range for ${what} (${min}-${max})`);
    return value;
  }
}

export function parseTraceFilter(text: string): ParsedFilter {
  const tokens = tokenize(text);
  const rest = text.slice(tokens.length === 0 ? 0 : tokens[tokens.length - 1]!.offset + tokens[tokens.length - 1]!.text.length);
  if (rest.trim() !== '') {
    return { ok: false, error: { term: rest.trim(), offset: text.length - rest.trimStart().length, reason: `cannot read "${rest.trim()}"` } };
  }
  try {
    return { ok: true, expr: new Parser(tokens, text.length).parse() };
  } catch (err) {
    if (err instanceof FilterSyntaxError) return { ok: false, error: err.filterError };
    throw err;
  }
}

export function formatFilterError(text: string, error: FilterError): string {
  const where = error.term === '' ? 'at the end' : `"${error.term}" at character ${error.offset + 1}`;
  return `filter "${text}": ${where}: ${error.reason}`;
}
