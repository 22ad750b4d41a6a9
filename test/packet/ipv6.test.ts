import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { IpProtocol } from '../../src/packet/ip-protocol.js';
import { emitIpv6, Ipv6Packet, type Ipv6Repr, parseIpv6 } from '../../src/packet/ipv6.js';
import {
  emitIpv6Chain,
  type Ipv6ExtHeaderRepr,
  type Ipv6FragmentRepr,
  type Ipv6Option,
  MAX_IPV6_EXT_HEADERS,
  walkIpv6Extensions,
} from '../../src/packet/ipv6-ext.js';
import type { DecodeError } from '../../src/packet/result.js';
import { arbIpv6Address } from '../support/arbitraries.js';

const EXT_CODES: Readonly<Record<Ipv6ExtHeaderRepr['kind'], number>> = {
  'hop-by-hop': IpProtocol.HopByHop,
  'destination-options': IpProtocol.Ipv6Opts,
  routing: IpProtocol.Ipv6Route,
  fragment: IpProtocol.Ipv6Frag,
  authentication: IpProtocol.Ah,
};
const EXT_CODE_SET: ReadonlySet<number> = new Set(Object.values(EXT_CODES));

const arbRepr: fc.Arbitrary<Ipv6Repr> = fc.record(
  {
    src: arbIpv6Address,
    dst: arbIpv6Address,
    nextHeader: fc.integer({ min: 0, max: 255 }),
    hopLimit: fc.integer({ min: 0, max: 255 }),
    trafficClass: fc.integer({ min: 0, max: 255 }),
    flowLabel: fc.integer({ min: 0, max: 0xfffff }),
    payloadLength: fc.integer({ min: 0, max: 1500 }),
  },
  { noNullPrototype: true },
);

const PAD1: Ipv6Option = { type: 0, data: new Uint8Array(0) };

/** Random options (Pad1 among them), then Pad1 or PadN so that the header is a multiple of 8 bytes. */
const arbOptions: fc.Arbitrary<Ipv6Option[]> = fc
  .array(
    fc.oneof(
      fc.constant(PAD1),
      fc.record({ type: fc.integer({ min: 1, max: 255 }), data: fc.uint8Array({ maxLength: 24, size: 'max' }) }, { noNullPrototype: true }),
    ),
    { maxLength: 6 },
  )
  .map((options) => {
    let length = 2;
    for (const o of options) length += o.type === 0 ? 1 : 2 + o.data.length;
    const gap = (8 - (length % 8)) % 8;
    if (gap === 1) return [...options, PAD1];
    if (gap >= 2) return [...options, { type: 1, data: new Uint8Array(gap - 2) }];
    return options;
  });

const arbExtHeader: fc.Arbitrary<Ipv6ExtHeaderRepr> = fc.oneof(
  arbOptions.map((options): Ipv6ExtHeaderRepr => ({ kind: 'hop-by-hop', nextHeader: 0, options })),
  arbOptions.map((options): Ipv6ExtHeaderRepr => ({ kind: 'destination-options', nextHeader: 0, options })),
  fc
    .record(
      {
        routingType: fc.integer({ min: 0, max: 255 }),
        segmentsLeft: fc.integer({ min: 0, max: 255 }),
        data: fc.integer({ min: 0, max: 6 }).chain((n) => fc.uint8Array({ minLength: 4 + n * 8, maxLength: 4 + n * 8 })),
      },
      { noNullPrototype: true },
    )
    .map((r): Ipv6ExtHeaderRepr => ({ kind: 'routing', nextHeader: 0, ...r })),
  fc
    .record(
      {
        fragmentOffset: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0x1fff }).map((v) => v * 8)),
        moreFragments: fc.boolean(),
        ident: fc.integer({ min: 0, max: 0xffffffff }),
        reserved1: fc.integer({ min: 0, max: 255 }),
        reserved2: fc.integer({ min: 0, max: 3 }),
      },
      { noNullPrototype: true },
    )
    .map((r): Ipv6ExtHeaderRepr => ({ kind: 'fragment', nextHeader: 0, ...r })),
  fc
    .integer({ min: 1, max: 20 })
    .chain((words) => fc.uint8Array({ minLength: (words + 2) * 4 - 2, maxLength: (words + 2) * 4 - 2 }))
    .map((data): Ipv6ExtHeaderRepr => ({ kind: 'authentication', nextHeader: 0, data })),
);

const arbUpper: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(IpProtocol.Tcp, IpProtocol.Udp, IpProtocol.Icmpv6, IpProtocol.Ipv6NoNext, IpProtocol.Esp),
  fc.integer({ min: 0, max: 255 }).filter((v) => !EXT_CODE_SET.has(v)),
);

interface ChainCase {
  readonly first: number;
  readonly headers: Ipv6ExtHeaderRepr[];
  readonly upper: number;
  readonly packet: Uint8Array;
  readonly chainLength: number;
}

/** 0-4 headers linked through their nextHeader fields, in a packet with some upper-layer bytes after them. */
const arbChain: fc.Arbitrary<ChainCase> = fc
  .record(
    {
      headers: fc.array(arbExtHeader, { maxLength: 4 }),
      upper: arbUpper,
      tail: fc.uint8Array({ maxLength: 64, size: 'max' }),
      src: arbIpv6Address,
      dst: arbIpv6Address,
    },
    { noNullPrototype: true },
  )
  .map(({ headers, upper, tail, src, dst }) => {
    const linked = headers.map((h, i): Ipv6ExtHeaderRepr => ({ ...h, nextHeader: i + 1 < headers.length ? EXT_CODES[headers[i + 1]!.kind] : upper }));
    const chain = emitIpv6Chain(linked);
    const payload = new Uint8Array(chain.length + tail.length);
    payload.set(chain);
    payload.set(tail, chain.length);
    const first = linked.length > 0 ? EXT_CODES[linked[0]!.kind] : upper;
    const repr: Ipv6Repr = { src, dst, nextHeader: first, hopLimit: 64, trafficClass: 0, flowLabel: 0, payloadLength: payload.length };
    return { first, headers: linked, upper, packet: emitIpv6(repr, payload), chainLength: chain.length };
  });

function view(bytes: Uint8Array): Ipv6Packet {
  const v = Ipv6Packet.check(bytes);
  assert.ok(v.ok, 'fixed header must check');
  return v.value;
}

function packet(nextHeader: number, payload: Uint8Array, payloadLength = payload.length): Uint8Array {
  const b = emitIpv6({ ...base(), nextHeader, payloadLength: payload.length }, payload);
  b[4] = payloadLength >> 8;
  b[5] = payloadLength & 0xff;
  return b;
}

function walkError(bytes: Uint8Array): DecodeError {
  const r = walkIpv6Extensions(view(bytes));
  assert.ok(!r.ok, 'walk must fail');
  return r.error;
}

function assertError(e: DecodeError, field: string, offset: number, isShort = false): void {
  assert.deepEqual([e.protocol, e.field, e.offset, e.short === true], ['ipv6-ext', field, offset, isShort], e.reason);
}

function cat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}

describe('ipv6 fixed header', () => {
  it('round-trips every representation through emit and parse', () => {
    fc.assert(
      fc.property(arbRepr, fc.integer({ min: 0, max: 255 }), (repr, fill) => {
        const bytes = emitIpv6(repr, new Uint8Array(repr.payloadLength).fill(fill));
        const v = view(bytes);
        assert.deepEqual(parseIpv6(v), repr);
        assert.equal(v.truncated, false);
        assert.equal(v.payload().length, repr.payloadLength);
        assert.equal(v.src.length, 16);
        assert.deepEqual(emitIpv6(parseIpv6(v), v.payload()), bytes);
      }),
      { numRuns: 1000 },
    );
  });

  it('reads traffic class and flow label across their nibble boundaries', () => {
    const v = view(emitIpv6({ ...base(), trafficClass: 0xa5, flowLabel: 0xf1234 }, new Uint8Array(0)));
    assert.deepEqual([v.bytes[0], v.bytes[1], v.bytes[2], v.bytes[3]], [0x6a, 0x5f, 0x12, 0x34]);
    assert.deepEqual([v.trafficClass, v.flowLabel], [0xa5, 0xf1234]);
  });

  it('reports fewer than 40 bytes as short and a wrong version as a failure', () => {
    const b = emitIpv6(base(), new Uint8Array(0));
    const s = Ipv6Packet.check(b.subarray(0, 39));
    assert.ok(!s.ok);
    assert.deepEqual([s.error.protocol, s.error.field, s.error.offset, s.error.short], ['ipv6', 'header', 0, true]);
    b[0] = 0x45;
    const f = Ipv6Packet.check(b);
    assert.ok(!f.ok);
    assert.deepEqual([f.error.protocol, f.error.field, f.error.offset, f.error.short], ['ipv6', 'version', 0, undefined]);
    assert.match(f.error.reason, /version is 4/);
  });

  it('keeps a truncated payload and says so; trims link-layer padding', () => {
    const full = emitIpv6({ ...base(), payloadLength: 100 }, new Uint8Array(100).fill(7));
    const cut = view(full.subarray(0, 70));
    assert.equal(cut.truncated, true);
    assert.equal(cut.payload().length, 30);
    const padded = new Uint8Array(full.length + 12).fill(0xee);
    padded.set(full);
    const p = view(padded);
    assert.equal(p.truncated, false);
    assert.equal(p.payload().length, 100);
    assert.ok(p.payload().every((x) => x === 7));
  });

  it('refuses to emit a payload that disagrees with the repr or a field that does not fit', () => {
    assert.throws(() => emitIpv6({ ...base(), payloadLength: 3 }, new Uint8Array(2)), RangeError);
    assert.throws(() => emitIpv6({ ...base(), flowLabel: 0x100000 }, new Uint8Array(0)), RangeError);
    assert.throws(() => emitIpv6({ ...base(), trafficClass: 256 }, new Uint8Array(0)), RangeError);
    assert.throws(() => emitIpv6({ ...base(), src: '10.0.0.1' }, new Uint8Array(0)), RangeError);
  });
});

describe('ipv6 extension headers', () => {
  it('round-trips chains of 0-4 headers, stopping after a non-first fragment', () => {
    fc.assert(
      fc.property(arbChain, (c) => {
        const r = walkIpv6Extensions(view(c.packet));
        assert.ok(r.ok, r.ok ? '' : r.error.reason);
        const stop = c.headers.findIndex((h) => h.kind === 'fragment' && h.fragmentOffset !== 0);
        const expected = stop < 0 ? c.headers : c.headers.slice(0, stop + 1);
        assert.deepEqual(r.value.headers, expected);
        assert.equal(r.value.truncated, false);
        assert.deepEqual(r.value.fragment, expected.find((h): h is Ipv6FragmentRepr => h.kind === 'fragment'));
        const walked = emitIpv6Chain(r.value.headers);
        assert.deepEqual(walked, c.packet.subarray(40, 40 + walked.length));
        assert.equal(r.value.upperOffset, 40 + walked.length);
        if (stop < 0) {
          assert.equal(walked.length, c.chainLength);
          assert.equal(r.value.upperProtocol, c.upper);
          assert.equal(r.value.upperPresent, c.upper !== IpProtocol.Ipv6NoNext);
        } else {
          assert.equal(r.value.upperPresent, false);
          assert.equal(r.value.upperProtocol, expected[stop]!.nextHeader);
        }
      }),
      { numRuns: 1500 },
    );
  });

  it('gives a value or a truncation for every prefix of a valid packet, never a throw or a hard failure', () => {
    fc.assert(
      fc.property(arbChain, (c) => {
        for (let n = 0; n <= c.packet.length; n++) {
          const v = Ipv6Packet.check(c.packet.subarray(0, n));
          if (!v.ok) {
            assert.equal(v.error.short, true);
            assert.ok(n < 40);
            continue;
          }
          const r = walkIpv6Extensions(v.value);
          assert.ok(r.ok, r.ok ? '' : r.error.reason);
          if (r.value.truncated) {
            assert.equal(r.value.upperPresent, false);
            assert.ok(n < 40 + c.chainLength);
          } else {
            assert.ok(r.value.upperOffset <= n);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('stops at a fragment header with a non-zero offset: the rest is fragment data', () => {
    const frag = emitIpv6Chain([{ kind: 'fragment', nextHeader: IpProtocol.HopByHop, fragmentOffset: 1232, moreFragments: false, ident: 0xabcdef01, reserved1: 0, reserved2: 0 }]);
    // The data after it would be a malformed hop-by-hop header if it were walked.
    const r = walkIpv6Extensions(view(packet(IpProtocol.Ipv6Frag, cat(frag, Uint8Array.from([17, 200, 0, 0, 0, 0, 0, 0])))));
    assert.ok(r.ok);
    assert.deepEqual([r.value.upperPresent, r.value.upperProtocol, r.value.upperOffset, r.value.headers.length], [false, IpProtocol.HopByHop, 48, 1]);
    assert.deepEqual(r.value.fragment, {
      kind: 'fragment',
      nextHeader: IpProtocol.HopByHop,
      fragmentOffset: 1232,
      moreFragments: false,
      ident: 0xabcdef01,
      reserved1: 0,
      reserved2: 0,
    });
  });

  it('decodes the fragment header bit layout (offset, reserved bits, M flag)', () => {
    const raw = Uint8Array.from([17, 0x5a, 0x09, 0xa7, 0, 0, 0, 42]);
    const r = walkIpv6Extensions(view(packet(IpProtocol.Ipv6Frag, raw)));
    assert.ok(r.ok);
    assert.deepEqual(r.value.headers[0], {
      kind: 'fragment',
      nextHeader: 17,
      fragmentOffset: (0x09a7 >> 3) * 8,
      moreFragments: true,
      ident: 42,
      reserved1: 0x5a,
      reserved2: 3,
    });
  });

  it('treats a first fragment as carrying the upper header', () => {
    const frag = emitIpv6Chain([{ kind: 'fragment', nextHeader: IpProtocol.Udp, fragmentOffset: 0, moreFragments: true, ident: 1, reserved1: 0, reserved2: 0 }]);
    const r = walkIpv6Extensions(view(packet(IpProtocol.Ipv6Frag, cat(frag, new Uint8Array(8)))));
    assert.ok(r.ok);
    assert.deepEqual([r.value.upperPresent, r.value.upperProtocol, r.value.upperOffset, r.value.fragment?.moreFragments], [true, IpProtocol.Udp, 48, true]);
  });

  it('ends the chain at No Next Header with nothing present, even when bytes follow', () => {
    const dst = emitIpv6Chain([{ kind: 'destination-options', nextHeader: IpProtocol.Ipv6NoNext, options: [{ type: 1, data: new Uint8Array(4) }] }]);
    const r = walkIpv6Extensions(view(packet(IpProtocol.Ipv6Opts, cat(dst, new Uint8Array(16)))));
    assert.ok(r.ok);
    assert.deepEqual([r.value.upperPresent, r.value.upperProtocol, r.value.upperOffset, r.value.truncated], [false, 59, 48, false]);
    const bare = walkIpv6Extensions(view(packet(IpProtocol.Ipv6NoNext, new Uint8Array(0))));
    assert.ok(bare.ok);
    assert.deepEqual([bare.value.upperPresent, bare.value.upperOffset, bare.value.headers], [false, 40, []]);
  });

  it('ends the chain at ESP, whose contents are encrypted', () => {
    const r = walkIpv6Extensions(view(packet(IpProtocol.Esp, new Uint8Array(24))));
    assert.ok(r.ok);
    assert.deepEqual([r.value.upperPresent, r.value.upperProtocol, r.value.upperOffset], [true, IpProtocol.Esp, 40]);
  });

  it('reads AH length in 4-byte units plus 2', () => {
    const ah = Uint8Array.from([IpProtocol.Tcp, 4, 0, 0, 1, 2, 3, 4, 0, 0, 0, 9, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66]);
    const r = walkIpv6Extensions(view(packet(IpProtocol.Ah, cat(ah, new Uint8Array(20)))));
    assert.ok(r.ok);
    assert.equal(r.value.upperOffset, 40 + 24);
    assert.deepEqual(r.value.headers, [{ kind: 'authentication', nextHeader: IpProtocol.Tcp, data: ah.slice(2) }]);
    assert.deepEqual(emitIpv6Chain(r.value.headers), ah);
  });

  it('reports a header cut by the capture but inside the payload length as truncation, keeping earlier headers', () => {
    const chain = emitIpv6Chain([
      { kind: 'hop-by-hop', nextHeader: IpProtocol.Ipv6Route, options: [{ type: 1, data: new Uint8Array(4) }] },
      { kind: 'routing', nextHeader: IpProtocol.Tcp, routingType: 4, segmentsLeft: 1, data: new Uint8Array(20) },
    ]);
    const full = packet(IpProtocol.HopByHop, cat(chain, new Uint8Array(20)));
    for (const n of [40, 44, 48, 52, 60, 71]) {
      const r = walkIpv6Extensions(view(full.subarray(0, n)));
      assert.ok(r.ok);
      assert.equal(r.value.truncated, true, `prefix ${n}`);
      assert.equal(r.value.upperPresent, false);
      assert.equal(r.value.headers.length, n < 48 ? 0 : 1);
      assert.equal(r.value.upperOffset, n < 48 ? 40 : 48);
      assert.equal(r.value.upperProtocol, n < 48 ? IpProtocol.HopByHop : IpProtocol.Ipv6Route);
    }
    const whole = walkIpv6Extensions(view(full.subarray(0, 72)));
    assert.ok(whole.ok && !whole.value.truncated && whole.value.upperPresent);
  });

  it('fails when the payload length ends before an extension header could', () => {
    assertError(walkError(packet(IpProtocol.HopByHop, new Uint8Array(0))), 'hop-by-hop.header', 40);
    const dst = emitIpv6Chain([{ kind: 'destination-options', nextHeader: IpProtocol.Ipv6Frag, options: [{ type: 1, data: new Uint8Array(4) }] }]);
    // Payload length says 12 bytes: the destination options fit, the 8-byte fragment header does not.
    assertError(walkError(packet(IpProtocol.Ipv6Opts, cat(dst, new Uint8Array(8)), 12)), 'fragment.header', 48);
  });

  it('fails when a header length runs past the payload length, naming the length octet', () => {
    const routing = Uint8Array.from([IpProtocol.Tcp, 2, 0, 0, 0, 0, 0, 0, ...new Uint8Array(8)]);
    assertError(walkError(packet(IpProtocol.Ipv6Route, routing)), 'routing.length', 41);
    // The same with the capture also cut short: the header itself is what is wrong, so it is not "short".
    assertError(walkError(packet(IpProtocol.Ipv6Route, routing).subarray(0, 50)), 'routing.length', 41);
    const ah = Uint8Array.from([IpProtocol.Tcp, 3, 0, 0, ...new Uint8Array(12)]);
    assertError(walkError(packet(IpProtocol.Ah, ah)), 'authentication.length', 41);
  });

  it('fails on an AH shorter than its fixed part', () => {
    const ah = Uint8Array.from([IpProtocol.Tcp, 0, 0, 0, 0, 0, 0, 0, ...new Uint8Array(16)]);
    assertError(walkError(packet(IpProtocol.Ah, ah)), 'authentication.length', 41);
  });

  it('fails on an option whose length runs past its header, naming the option', () => {
    const hbh = Uint8Array.from([IpProtocol.Tcp, 0, 0, 0, 0xc2, 9, 0, 0]);
    const e = walkError(packet(IpProtocol.HopByHop, hbh));
    assertError(e, 'hop-by-hop.option.length', 45);
    assert.match(e.reason, /option 194 length 9/);
    const dst = Uint8Array.from([IpProtocol.Tcp, 0, 1, 3, 0, 0, 0, 0x07]);
    const d = walkError(packet(IpProtocol.Ipv6Opts, dst));
    assertError(d, 'destination-options.option.length', 47);
    assert.match(d.reason, /option 7 has no length octet/);
  });

  it('fails the same way on a bad option in a later header', () => {
    const first = emitIpv6Chain([{ kind: 'fragment', nextHeader: IpProtocol.Ipv6Opts, fragmentOffset: 0, moreFragments: true, ident: 3, reserved1: 0, reserved2: 0 }]);
    const dst = Uint8Array.from([IpProtocol.Tcp, 0, 1, 5, 0, 0, 0, 0]);
    assertError(walkError(packet(IpProtocol.Ipv6Frag, cat(first, dst))), 'destination-options.option.length', 51);
  });

  it('bounds the walk over a hostile chain', () => {
    const one = Uint8Array.from([IpProtocol.Ipv6Opts, 0, 1, 4, 0, 0, 0, 0]);
    const many = cat(...new Array<Uint8Array>(MAX_IPV6_EXT_HEADERS + 1).fill(one));
    assertError(walkError(packet(IpProtocol.Ipv6Opts, many)), 'chain', 40 + MAX_IPV6_EXT_HEADERS * 8);
    const allowed = cat(...new Array<Uint8Array>(MAX_IPV6_EXT_HEADERS - 1).fill(one), Uint8Array.from([IpProtocol.Tcp, 0, 1, 4, 0, 0, 0, 0]));
    const r = walkIpv6Extensions(view(packet(IpProtocol.Ipv6Opts, allowed)));
    assert.ok(r.ok && r.value.headers.length === MAX_IPV6_EXT_HEADERS);
  });

  it('emits padding exactly as given and refuses headers that are not whole 8-byte units', () => {
    const options: Ipv6Option[] = [PAD1, { type: 5, data: Uint8Array.from([0, 0]) }, PAD1];
    assert.deepEqual(emitIpv6Chain([{ kind: 'hop-by-hop', nextHeader: 6, options }]), Uint8Array.from([6, 0, 0, 5, 2, 0, 0, 0]));
    assert.throws(() => emitIpv6Chain([{ kind: 'hop-by-hop', nextHeader: 6, options: [PAD1] }]), RangeError);
    assert.throws(() => emitIpv6Chain([{ kind: 'destination-options', nextHeader: 6, options: [{ type: 0, data: new Uint8Array(6) }] }]), RangeError);
    assert.throws(() => emitIpv6Chain([{ kind: 'routing', nextHeader: 6, routingType: 0, segmentsLeft: 0, data: new Uint8Array(3) }]), RangeError);
    assert.throws(() => emitIpv6Chain([{ kind: 'authentication', nextHeader: 6, data: new Uint8Array(8) }]), RangeError);
    assert.throws(() => emitIpv6Chain([{ kind: 'authentication', nextHeader: 6, data: new Uint8Array(12) }]), RangeError);
    const frag = (over: Partial<Ipv6FragmentRepr>): Ipv6ExtHeaderRepr => ({ kind: 'fragment', nextHeader: 6, fragmentOffset: 0, moreFragments: false, ident: 0, reserved1: 0, reserved2: 0, ...over });
    assert.throws(() => emitIpv6Chain([frag({ fragmentOffset: 12 })]), RangeError);
    assert.throws(() => emitIpv6Chain([frag({ fragmentOffset: 0x2000 * 8 })]), RangeError);
    assert.throws(() => emitIpv6Chain([frag({ reserved2: 4 })]), RangeError);
  });
});

function base(): Ipv6Repr {
  return { src: 'fd00:1::2', dst: 'fd00:2::2', nextHeader: IpProtocol.Tcp, hopLimit: 64, trafficClass: 0, flowLabel: 0, payloadLength: 0 };
}
