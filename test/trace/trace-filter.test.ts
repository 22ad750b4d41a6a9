/**
 * The trace filter's parser: every supported pcap-filter term to its exact tree, pcap's precedence and shorthand
 * (checked against libpcap's own reading with `tcpdump -d` where they could differ), and every error naming the
 * word and where it stands. A property test prints random trees as filter text and parses them back.
 */
import { maskAddress } from '../../src/packet/address.js';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatIpv4, formatIpv6, parseIpv4Text, parseIpv6Text } from '../../src/packet/address.js';
import { formatFilterError, parseTraceFilter, type Direction, type FilterError, type FilterExpr, type LengthOperator } from '../../src/trace/trace-filter.js';

function addr(text: string): Uint8Array {
  const a = text.includes(':') ? parseIpv6Text(text) : parseIpv4Text(text);
  assert.ok(a, `${text} is an address`);
  return a;
}

const host = (address: string, direction: Direction = 'src-or-dst'): FilterExpr => ({ kind: 'host', direction, family: address.includes(':') ? 6 : 4, address: addr(address) });
const net = (cidr: string, direction: Direction = 'src-or-dst'): FilterExpr => {
  const [a, l] = cidr.split('/') as [string, string];
  return { kind: 'net', direction, family: a.includes(':') ? 6 : 4, address: addr(a), prefixLength: Number(l) };
};
const port = (n: number, direction: Direction = 'src-or-dst'): FilterExpr => ({ kind: 'port', direction, port: n });
const proto = (protocol: number, family?: 4 | 6): FilterExpr => (family === undefined ? { kind: 'proto', protocol } : { kind: 'proto', protocol, family });
const fam = (family: 4 | 6): FilterExpr => ({ kind: 'family', family });
const len = (operator: LengthOperator, value: number): FilterExpr => ({ kind: 'len', operator, value });
const and = (left: FilterExpr, right: FilterExpr): FilterExpr => ({ kind: 'and', left, right });
const or = (left: FilterExpr, right: FilterExpr): FilterExpr => ({ kind: 'or', left, right });
const not = (operand: FilterExpr): FilterExpr => ({ kind: 'not', operand });

function tree(text: string): FilterExpr | undefined {
  const r = parseTraceFilter(text);
  assert.ok(r.ok, `"${text}" parses: ${r.ok ? '' : formatFilterError(text, r.error)}`);
  return r.expr;
}

function error(text: string): FilterError {
  const r = parseTraceFilter(text);
  assert.ok(!r.ok, `"${text}" is refused`);
  return r.error;
}

function assertError(text: string, term: string, offset: number, reason: RegExp): void {
  const e = error(text);
  assert.equal(e.term, term, `"${text}": the term`);
  assert.equal(e.offset, offset, `"${text}": the offset`);
  assert.match(e.reason, reason, `"${text}": the reason`);
  if (term !== '') assert.equal(text.slice(offset, offset + term.length), term, 'the offset points at the term');
}

describe('trace filter: each supported term parses to its exact tree', () => {
  it('host, src host, dst host and the bare src/dst ADDR, in both families', () => {
    assert.deepEqual(tree('host 10.0.0.1'), host('10.0.0.1'));
    assert.deepEqual(tree('src host 10.0.0.1'), host('10.0.0.1', 'src'));
    assert.deepEqual(tree('dst host fd00::1'), host('fd00::1', 'dst'));
    assert.deepEqual(tree('src 10.0.0.1'), host('10.0.0.1', 'src'));
    assert.deepEqual(tree('dst fd00:1::2'), host('fd00:1::2', 'dst'));
    assert.deepEqual(tree('host ::ffff:10.0.0.1'), host('::ffff:10.0.0.1'));
    assert.deepEqual(tree('HOST 10.0.0.1'), host('10.0.0.1'), 'keywords in any case');
  });

  it('src or dst and src and dst, with host, net, port and a bare address', () => {
    assert.deepEqual(tree('src or dst host 10.0.0.1'), host('10.0.0.1', 'src-or-dst'));
    assert.deepEqual(tree('src and dst host 10.0.0.1'), host('10.0.0.1', 'src-and-dst'));
    assert.deepEqual(tree('dst or src 10.0.0.1'), host('10.0.0.1', 'src-or-dst'));
    assert.deepEqual(tree('src and dst net 10.0.0.0/8'), net('10.0.0.0/8', 'src-and-dst'));
    assert.deepEqual(tree('src or dst port 53'), port(53, 'src-or-dst'));
    assert.deepEqual(tree('dst and src port 53'), port(53, 'src-and-dst'));
  });

  it('net with IPv4 and IPv6 prefixes, directed, and an address with a prefix after host', () => {
    assert.deepEqual(tree('net 10.0.0.0/8'), net('10.0.0.0/8'));
    assert.deepEqual(tree('net 0.0.0.0/0'), net('0.0.0.0/0'));
    assert.deepEqual(tree('src net 10.1.2.0/23'), net('10.1.2.0/23', 'src'));
    assert.deepEqual(tree('dst net fd00::/8'), net('fd00::/8', 'dst'));
    assert.deepEqual(tree('net fd00:1:2::/127'), net('fd00:1:2::/127'));
    assert.deepEqual(tree('host 10.0.0.0/24'), net('10.0.0.0/24'), 'a prefix after host is a net');
    assert.deepEqual(tree('src 10.0.0.0/24'), net('10.0.0.0/24', 'src'));
  });

  it('port with src and dst, 0 and 65535 included', () => {
    assert.deepEqual(tree('port 80'), port(80));
    assert.deepEqual(tree('src port 0'), port(0, 'src'));
    assert.deepEqual(tree('dst port 65535'), port(65535, 'dst'));
  });

  it('proto NAME and proto N; the bare tcp, udp, icmp, icmp6; ip, ip6; ip proto and ip6 proto', () => {
    assert.deepEqual(tree('proto tcp'), proto(6));
    assert.deepEqual(tree('proto udp'), proto(17));
    assert.deepEqual(tree('proto icmp'), proto(1, 4));
    assert.deepEqual(tree('proto icmp6'), proto(58, 6));
    assert.deepEqual(tree('proto 47'), proto(47));
    assert.deepEqual(tree('proto 0'), proto(0));
    assert.deepEqual(tree('proto 255'), proto(255));
    assert.deepEqual(tree('tcp'), proto(6));
    assert.deepEqual(tree('udp'), proto(17));
    assert.deepEqual(tree('icmp'), proto(1, 4));
    assert.deepEqual(tree('icmp6'), proto(58, 6));
    assert.deepEqual(tree('ip'), fam(4));
    assert.deepEqual(tree('ip6'), fam(6));
    assert.deepEqual(tree('ip proto 17'), and(fam(4), proto(17)));
    assert.deepEqual(tree('ip6 proto icmp6'), and(fam(6), proto(58, 6)));
  });

  it('a protocol or family qualifying the term after it: tcp port, udp src port, ip host, ip6 net, ip src', () => {
    assert.deepEqual(tree('tcp port 80'), and(proto(6), port(80)));
    assert.deepEqual(tree('udp src port 53'), and(proto(17), port(53, 'src')));
    assert.deepEqual(tree('udp dst port 53'), and(proto(17), port(53, 'dst')));
    assert.deepEqual(tree('ip host 10.0.0.1'), and(fam(4), host('10.0.0.1')));
    assert.deepEqual(tree('ip6 net fd00::/16'), and(fam(6), net('fd00::/16')));
    assert.deepEqual(tree('ip src 10.0.0.1'), and(fam(4), host('10.0.0.1', 'src')));
  });

  it('len with each operator, greater and less (pcap: >= and <=)', () => {
    assert.deepEqual(tree('len < 100'), len('<', 100));
    assert.deepEqual(tree('len <= 100'), len('<=', 100));
    assert.deepEqual(tree('len > 1400'), len('>', 1400));
    assert.deepEqual(tree('len >= 1400'), len('>=', 1400));
    assert.deepEqual(tree('len = 1500'), len('==', 1500));
    assert.deepEqual(tree('len == 1500'), len('==', 1500));
    assert.deepEqual(tree('len != 1500'), len('!=', 1500));
    assert.deepEqual(tree('len>=1400'), len('>=', 1400), 'operators need no spaces');
    assert.deepEqual(tree('len<65535'), len('<', 65535));
    assert.deepEqual(tree('greater 1400'), len('>=', 1400));
    assert.deepEqual(tree('less 100'), len('<=', 100));
  });

  it('and/&&, or/||, not/!, parentheses', () => {
    assert.deepEqual(tree('tcp and port 80'), and(proto(6), port(80)));
    assert.deepEqual(tree('tcp && port 80'), and(proto(6), port(80)));
    assert.deepEqual(tree('tcp or udp'), or(proto(6), proto(17)));
    assert.deepEqual(tree('tcp || udp'), or(proto(6), proto(17)));
    assert.deepEqual(tree('not tcp'), not(proto(6)));
    assert.deepEqual(tree('! tcp'), not(proto(6)));
    assert.deepEqual(tree('!tcp'), not(proto(6)));
    assert.deepEqual(tree('not not tcp'), not(not(proto(6))));
    assert.deepEqual(tree('(tcp)'), proto(6));
    assert.deepEqual(tree('((tcp or udp))and(port 53)'), and(or(proto(6), proto(17)), port(53)));
    assert.deepEqual(tree('not (tcp or udp)'), not(or(proto(6), proto(17))));
    assert.deepEqual(tree(''), undefined, 'no filter');
    assert.deepEqual(tree('   '), undefined, 'blank is no filter');
  });

  it("pcap's precedence: not binds tightest; and and or are equal and associate to the left (tcpdump -d reads 'A or B and C' as '(A or B) and C')", () => {
    assert.deepEqual(tree('tcp or udp and port 53'), and(or(proto(6), proto(17)), port(53)));
    assert.deepEqual(tree('tcp and port 80 or udp'), or(and(proto(6), port(80)), proto(17)));
    assert.deepEqual(tree('tcp or udp or icmp'), or(or(proto(6), proto(17)), proto(1, 4)));
    assert.deepEqual(tree('tcp and udp and icmp'), and(and(proto(6), proto(17)), proto(1, 4)));
    assert.deepEqual(tree('not tcp and udp'), and(not(proto(6)), proto(17)));
    assert.deepEqual(tree('! tcp || udp && icmp'), and(or(not(proto(6)), proto(17)), proto(1, 4)));
    assert.deepEqual(tree('tcp or (udp and port 53)'), or(proto(6), and(proto(17), port(53))), 'parentheses group as written');
  });

  it("pcap's shorthand: a bare value after and/or repeats the previous term's kind, direction and protocol", () => {
    assert.deepEqual(tree('host 10.0.0.1 or 10.0.0.2'), or(host('10.0.0.1'), host('10.0.0.2')));
    assert.deepEqual(tree('port 80 or 443'), or(port(80), port(443)));
    assert.deepEqual(tree('src port 80 or 443'), or(port(80, 'src'), port(443, 'src')));
    assert.deepEqual(tree('dst host 10.0.0.1 or fd00::1'), or(host('10.0.0.1', 'dst'), host('fd00::1', 'dst')));
    assert.deepEqual(tree('net 10.0.0.0/8 or 192.168.0.0/16'), or(net('10.0.0.0/8'), net('192.168.0.0/16')));
    assert.deepEqual(tree('host 10.0.0.1 and not 10.0.0.2'), and(host('10.0.0.1'), not(host('10.0.0.2'))));
    assert.deepEqual(tree('port 80 or 443 or 8080'), or(or(port(80), port(443)), port(8080)));
    // tcpdump -d 'tcp port 80 or 443' tests TCP for both ports: the protocol is part of what is repeated.
    assert.deepEqual(tree('tcp port 80 or 443'), or(and(proto(6), port(80)), and(proto(6), port(443))));
    assert.deepEqual(tree('udp dst port 53 or 5353'), or(and(proto(17), port(53, 'dst')), and(proto(17), port(5353, 'dst'))));
    assert.deepEqual(tree('ip host 10.0.0.1 or 10.0.0.2'), or(and(fam(4), host('10.0.0.1')), and(fam(4), host('10.0.0.2'))));
    assert.deepEqual(tree('tcp port 80 or udp port 53 or 5353'), or(or(and(proto(6), port(80)), and(proto(17), port(53))), and(proto(17), port(5353))));
  });
});

describe('trace filter: every error names the term and where it stands', () => {
  it('unsupported pcap terms say "not supported" and list what is', () => {
    assertError('vlan 10', 'vlan', 0, /not supported.*supported: host/);
    assertError('ether host 02:00:00:00:00:01', 'ether', 0, /not supported/);
    assertError('tcp[13]&2!=0', 'tcp[13]', 0, /not supported/);
    assertError('ip[6:2] & 0x1fff = 0', 'ip[6:2]', 0, /not supported/);
    assertError('tcp and portrange 1-1024', 'portrange', 8, /not supported/);
    assertError('host 10.0.0.1 or arp', 'arp', 17, /not supported/);
    assertError('not sctp', 'sctp', 4, /not supported/);
  });

  it('an unknown word is an unknown term; a host name is not resolved', () => {
    assertError('hots 10.0.0.1', 'hots', 0, /unknown term "hots"/);
    assertError('tcp and frobnicate', 'frobnicate', 8, /unknown term/);
    assertError('host example.com', 'example.com', 5, /host names are not resolved/);
    assertError('src gateway1', 'gateway1', 4, /host names are not resolved/);
    assertError('host 10.0.0.256', '10.0.0.256', 5, /not an IPv4 or IPv6 address/);
    assertError('host fd00:::1', 'fd00:::1', 5, /not an IPv4 or IPv6 address/);
  });

  it('a bad network prefix', () => {
    assertError('net 10.0.0.0/33', '10.0.0.0/33', 4, /not a network/);
    assertError('net fd00::/129', 'fd00::/129', 4, /not a network/);
    assertError('net 10.0.0.0', '10.0.0.0', 4, /not a network.*prefix length/);
    assertError('net 10.0.0.0/x', '10.0.0.0/x', 4, /not a network/);
    assertError('net 10.0.0.1/8', '10.0.0.1/8', 4, /has bits set beyond its \/8: write 10\.0\.0\.0\/8, or host 10\.0\.0\.1/);
    assertError('src fd00::1/64', 'fd00::1/64', 4, /has bits set beyond its \/64: write fd00::\/64/);
    assertError('host 10.0.0.0/8/8', '10.0.0.0/8/8', 5, /not an address or network/);
  });

  it('numbers out of range, not numbers, or with a leading zero that pcap would read as octal', () => {
    assertError('port 65536', '65536', 5, /out of range.*0-65535/);
    assertError('port http', 'http', 5, /not a port number \(names are not looked up\)/);
    assertError('port -1', '-1', 5, /not a port number/);
    assertError('proto 256', '256', 6, /out of range.*0-255/);
    assertError('proto foo', 'foo', 6, /not a protocol this filter knows/);
    assertError('len > 65536', '65536', 6, /out of range/);
    assertError('greater 1e3', '1e3', 8, /not a length/);
    // tcpdump -d 'port 010' compares with 8: the same text must not silently mean 10 here.
    assertError('port 010', '010', 5, /leading zero/);
    assertError('len > 0100', '0100', 6, /leading zero/);
  });

  it('len without a comparison', () => {
    assertError('len 100', '100', 4, /"len" needs a comparison/);
    assertError('len', '', 3, /ends where a comparison after "len"/);
    assertError('len >', '', 5, /ends where a length/);
  });

  it('an unclosed or unopened parenthesis', () => {
    assertError('(host 10.0.0.1', '', 14, /never closed/);
    assertError('((tcp)', '', 6, /never closed/);
    assertError('(tcp udp)', 'udp', 5, /expected "\)" but found "udp"/);
    assertError('tcp)', ')', 3, /after a complete filter/);
    assertError('()', ')', 1, /where a term was expected/);
  });

  it('trailing junk after a complete filter', () => {
    assertError('host 10.0.0.1 tcp', 'tcp', 14, /unexpected "tcp" after a complete filter/);
    assertError('tcp port 80 80', '80', 12, /after a complete filter/);
    assertError('tcp & udp', '&', 4, /after a complete filter/);
  });

  it('an empty operand of and, or, not, src, host, port, proto', () => {
    assertError('host 10.0.0.1 and', '', 17, /ends where a term was expected/);
    assertError('tcp or', '', 6, /ends where a term/);
    assertError('and tcp', 'and', 0, /where a term was expected/);
    assertError('tcp or or udp', 'or', 7, /where a term was expected/);
    assertError('tcp and )', ')', 8, /where a term was expected/);
    assertError('not', '', 3, /ends where a term/);
    assertError('src', '', 3, /ends where an address after "src"/);
    assertError('src host', '', 8, /ends where the value of "host"/);
    assertError('port', '', 4, /ends where the value of "port"/);
    assertError('proto', '', 5, /ends where a protocol/);
    assertError('ip proto', '', 8, /ends where a protocol/);
  });

  it('src or src names the same direction twice; a bare value with nothing before it is unknown', () => {
    assertError('src or src host 10.0.0.1', 'src', 7, /same direction twice/);
    assertError('10.0.0.1', '10.0.0.1', 0, /unknown term/);
    assertError('tcp or 80', '80', 7, /unknown term/);
  });

  it('formatFilterError quotes the filter, the term and its 1-based character', () => {
    assert.equal(formatFilterError('vlan 10', error('vlan 10')), `filter "vlan 10": "vlan" at character 1: ${error('vlan 10').reason}`);
    assert.match(formatFilterError('tcp and', error('tcp and')), /^filter "tcp and": at the end: /);
  });
});

// ---- property tests ----

const DIRECTIONS: readonly Direction[] = ['src', 'dst', 'src-or-dst', 'src-and-dst'];
const arbDirection = fc.constantFrom(...DIRECTIONS);
const arbV4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
const arbV6 = fc.uint8Array({ minLength: 16, maxLength: 16 });
const arbAddress = fc.oneof(arbV4, arbV6);

const arbLeaf: fc.Arbitrary<FilterExpr> = fc.oneof(
  fc.record({ direction: arbDirection, address: arbAddress }).map(({ direction, address }): FilterExpr => ({ kind: 'host', direction, family: address.length === 4 ? 4 : 6, address })),
  fc
    .record({ direction: arbDirection, address: arbAddress, bits: fc.integer({ min: 0, max: 128 }) })
    .map(({ direction, address, bits }): FilterExpr => {
      const prefixLength = bits % (address.length * 8 + 1);
      return { kind: 'net', direction, family: address.length === 4 ? 4 : 6, address: maskAddress(address, prefixLength), prefixLength };
    }),
  fc.record({ direction: arbDirection, port: fc.integer({ min: 0, max: 65535 }) }).map(({ direction, port: p }): FilterExpr => ({ kind: 'port', direction, port: p })),
  fc.integer({ min: 0, max: 255 }).map((p) => proto(p)),
  fc.constantFrom(proto(1, 4), proto(58, 6), fam(4), fam(6)),
  fc.record({ operator: fc.constantFrom<LengthOperator>('<', '<=', '>', '>=', '==', '!='), value: fc.integer({ min: 0, max: 65535 }) }).map(({ operator, value }) => len(operator, value)),
);

const arbExpr: fc.Arbitrary<FilterExpr> = fc.letrec<{ expr: FilterExpr }>((tie) => ({
  expr: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    arbLeaf,
    fc.tuple(fc.constantFrom<'and' | 'or'>('and', 'or'), tie('expr'), tie('expr')).map(([kind, left, right]): FilterExpr => ({ kind, left, right })),
    tie('expr').map((operand): FilterExpr => ({ kind: 'not', operand })),
  ),
})).expr;

const DIRECTION_TEXT: Readonly<Record<Direction, string>> = { src: 'src ', dst: 'dst ', 'src-or-dst': '', 'src-and-dst': 'src and dst ' };

function addressText(a: Uint8Array): string {
  return a.length === 4 ? formatIpv4(a) : formatIpv6(a);
}

/** A tree as pcap-filter text, with the parentheses that left-associative equal-precedence and/or need. */
function print(e: FilterExpr, ops: { and: string; or: string; not: string }): string {
  switch (e.kind) {
    case 'and':
    case 'or': {
      const right = e.right.kind === 'and' || e.right.kind === 'or' ? `(${print(e.right, ops)})` : print(e.right, ops);
      return `${print(e.left, ops)} ${ops[e.kind]} ${right}`;
    }
    case 'not':
      return `${ops.not} ${e.operand.kind === 'and' || e.operand.kind === 'or' ? `(${print(e.operand, ops)})` : print(e.operand, ops)}`;
    case 'host':
      return `${DIRECTION_TEXT[e.direction]}host ${addressText(e.address)}`;
    case 'net':
      return `${DIRECTION_TEXT[e.direction]}net ${addressText(e.address)}/${e.prefixLength}`;
    case 'port':
      return `${DIRECTION_TEXT[e.direction]}port ${e.port}`;
    case 'proto':
      return e.family === 4 ? 'icmp' : e.family === 6 ? 'icmp6' : `proto ${e.protocol}`;
    case 'family':
      return e.family === 4 ? 'ip' : 'ip6';
    case 'len':
      return `len ${e.operator} ${e.value}`;
  }
}

describe('trace filter: properties', () => {
  it('a random filter tree printed as text parses back to the same tree (words and symbols alike)', () => {
    fc.assert(
      fc.property(arbExpr, fc.boolean(), (e, symbols) => {
        const text = print(e, symbols ? { and: '&&', or: '||', not: '!' } : { and: 'and', or: 'or', not: 'not' });
        const r = parseTraceFilter(text);
        assert.ok(r.ok, `"${text}": ${r.ok ? '' : formatFilterError(text, r.error)}`);
        assert.deepEqual(r.expr, e, text);
      }),
      { numRuns: 2000 },
    );
  });

  const WORDS = ['host', 'src', 'dst', 'net', 'port', 'proto', 'tcp', 'udp', 'icmp', 'icmp6', 'ip', 'ip6', 'len', 'greater', 'less', 'and', 'or', 'not', '!', '&&', '||', '(', ')', '<', '<=', '=', '!=', '&', '|', '10.0.0.1', 'fd00::1', '10.0.0.0/8', '80', '0', '65536', 'vlan', 'tcp[13]', 'x', ''];

  it('random strings and random sequences of filter words never throw: a tree or an error whose offset lies in the text', () => {
    const check = (text: string): void => {
      const r = parseTraceFilter(text);
      if (!r.ok) {
        assert.ok(r.error.offset >= 0 && r.error.offset <= text.length, `offset ${r.error.offset} in "${text}"`);
        assert.equal(text.slice(r.error.offset, r.error.offset + r.error.term.length), r.error.term, `the term stands at its offset in "${text}"`);
        assert.ok(r.error.reason.length > 0);
      }
    };
    fc.assert(fc.property(fc.string({ maxLength: 60, size: 'max' }), check), { numRuns: 3000 });
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 40, size: 'max' }), check), { numRuns: 2000 });
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...WORDS), { maxLength: 12, size: 'max' }), fc.constantFrom(' ', '', '  '), (words, sep) => check(words.join(sep))),
      { numRuns: 5000 },
    );
  });
});
