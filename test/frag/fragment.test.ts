import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { fragmentIpv4 } from '../../src/frag/fragment-ipv4.js';
import { fragmentIpv6 } from '../../src/frag/fragment-ipv6.js';
import type { FragmentResult } from '../../src/frag/fragment-result.js';
import { bytesEqual, u16, u32 } from '../../src/packet/bytes.js';
import { decodeFrame } from '../../src/packet/frame.js';
import { IpProtocol } from '../../src/packet/ip-protocol.js';
import { emitIpv4, emitIpv4Options, type Ipv4Option, Ipv4Packet, type Ipv4Repr, parseIpv4Options } from '../../src/packet/ipv4.js';
import { emitIpv6, IPV6_HEADER, Ipv6Packet } from '../../src/packet/ipv6.js';
import { emitIpv6Chain, type Ipv6ExtHeaderRepr, walkIpv6Extensions } from '../../src/packet/ipv6-ext.js';
import { LinkType } from '../../src/packet/link-type.js';
import { emitUdp } from '../../src/packet/udp.js';
import { arbIpv4Address, arbIpv6Address } from '../support/arbitraries.js';

function fragmentsOf(r: FragmentResult): Uint8Array[] {
  if (!r.ok) assert.fail(`fragmenter refused: ${r.reason}`);
  return r.fragments;
}

function bytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

// ---------------------------------------------------------------- IPv4

const NO_OPTIONS = new Uint8Array(0);

function v4Repr(over: Partial<Ipv4Repr> = {}): Ipv4Repr {
  return {
    src: '10.0.1.2',
    dst: '10.0.1.1',
    // An experimental protocol: the payloads here are arbitrary bytes, not a transport header the decoder would check.
    protocol: 253,
    ttl: 61,
    dscp: 10,
    ecn: 1,
    ident: 0x1234,
    reservedFlag: false,
    dontFragment: false,
    moreFragments: false,
    fragmentOffset: 0,
    options: NO_OPTIONS,
    payloadLength: 0,
    ...over,
  };
}

function v4Packet(payload: Uint8Array, over: Partial<Ipv4Repr> = {}): Uint8Array {
  return emitIpv4(v4Repr({ ...over, payloadLength: payload.length }), payload);
}

interface V4Piece {
  readonly view: Ipv4Packet;
  readonly offset: number;
  readonly data: Uint8Array;
}

/** Checks what must hold of every IPv4 fragment, and returns each with its offset and data. */
function checkV4Fragments(original: Uint8Array, fragments: readonly Uint8Array[], mtu: number): V4Piece[] {
  const orig = Ipv4Packet.check(original);
  assert.ok(orig.ok);
  const o = orig.value;
  const pieces: V4Piece[] = [];
  fragments.forEach((f, i) => {
    assert.ok(f.length <= mtu, `fragment ${i} has ${f.length} bytes, mtu ${mtu}`);
    const v = Ipv4Packet.check(f);
    assert.ok(v.ok, `fragment ${i} does not parse`);
    const p = v.value;
    assert.equal(p.totalLength, f.length);
    assert.ok(p.checksumValid(), `fragment ${i} header checksum`);
    assert.equal(p.fragmentOffset % 8, 0);
    assert.deepEqual([p.ttl, p.protocol, p.dscp, p.ecn, p.dontFragment, p.reservedFlag], [o.ttl, o.protocol, o.dscp, o.ecn, o.dontFragment, o.reservedFlag]);
    assert.ok(bytesEqual(p.src, o.src) && bytesEqual(p.dst, o.dst));
    const last = i === fragments.length - 1;
    assert.equal(p.moreFragments, last ? o.moreFragments : true, `MF of fragment ${i}`);
    if (!last) assert.equal(p.payload().length % 8, 0, `data of fragment ${i} is not in 8-octet units`);
    const decoded = decodeFrame(LinkType.Raw, f);
    assert.equal(decoded.error, undefined, `decodeFrame on fragment ${i}: ${JSON.stringify(decoded.error)}`);
    assert.equal(decoded.truncated, false);
    pieces.push({ view: p, offset: p.fragmentOffset - o.fragmentOffset, data: p.payload() });
  });
  return pieces;
}

/** Reassembly by the book, for the test: data placed at its offset, holes and overlaps are failures. */
function concatByOffset(pieces: readonly { offset: number; data: Uint8Array }[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  const covered = new Uint8Array(length);
  for (const { offset, data } of pieces) {
    assert.ok(offset >= 0 && offset + data.length <= length, `piece at ${offset}+${data.length} outside ${length}`);
    for (let i = 0; i < data.length; i++) {
      assert.equal(covered[offset + i], 0, `byte ${offset + i} covered twice`);
      covered[offset + i] = 1;
    }
    out.set(data, offset);
  }
  assert.ok(covered.every((c) => c === 1), 'a hole is left');
  return out;
}

/** RFC 791 options with a spread of copied flags: NOP, Security (130, copied), LSRR (131, copied), Record Route (7), Timestamp (68), and a made-up copied one. */
const arbV4Option: fc.Arbitrary<Ipv4Option> = fc.oneof(
  fc.constant<Ipv4Option>({ type: 1, copied: false, data: new Uint8Array(0) }),
  fc.uint8Array({ minLength: 9, maxLength: 9 }).map((d): Ipv4Option => ({ type: 130, copied: true, data: d })),
  fc.integer({ min: 1, max: 3 }).map((n): Ipv4Option => ({ type: 131, copied: true, data: Uint8Array.from([4, ...bytes(4 * n, n)]) })),
  fc.integer({ min: 1, max: 3 }).map((n): Ipv4Option => ({ type: 7, copied: false, data: Uint8Array.from([4, ...new Uint8Array(4 * n)]) })),
  fc.constant<Ipv4Option>({ type: 68, copied: false, data: Uint8Array.from([5, 0, 0, 0, 0, 0]) }),
  fc.uint8Array({ minLength: 0, maxLength: 6 }).map((d): Ipv4Option => ({ type: 0x9e, copied: true, data: d })),
);

const arbV4Options: fc.Arbitrary<Uint8Array> = fc
  .array(arbV4Option, { maxLength: 5 })
  .map((opts) => emitIpv4Options(opts))
  .filter((b) => b.length <= 40);

describe('fragmentIpv4', () => {
  it('splits any packet so that every fragment fits, offsets are 8-octet units and the data comes back whole', () => {
    fc.assert(
      fc.property(
        fc.record({
          src: arbIpv4Address,
          dst: arbIpv4Address,
          ttl: fc.integer({ min: 1, max: 255 }),
          dscp: fc.integer({ min: 0, max: 63 }),
          ident: fc.integer({ min: 0, max: 0xffff }),
          reservedFlag: fc.boolean(),
          options: arbV4Options,
          size: fc.integer({ min: 0, max: 9000 }),
          mtuSlack: fc.integer({ min: 0, max: 3000 }),
        }),
        (r) => {
          const payload = bytes(r.size, r.ident);
          const packet = v4Packet(payload, { src: r.src, dst: r.dst, ttl: r.ttl, dscp: r.dscp, ident: r.ident, reservedFlag: r.reservedFlag, options: r.options });
          const mtu = 20 + r.options.length + 8 + r.mtuSlack;
          const fragments = fragmentsOf(fragmentIpv4(packet, mtu));
          if (packet.length <= mtu) {
            assert.equal(fragments.length, 1);
            assert.ok(bytesEqual(fragments[0]!, packet));
            return;
          }
          const pieces = checkV4Fragments(packet, fragments, mtu);
          assert.ok(bytesEqual(concatByOffset(pieces, payload.length), payload));
          for (const piece of pieces) assert.equal(piece.view.ident, r.ident);
          // Only the last may be smaller than what the mtu allows: the fragmenter packs greedily.
          pieces.slice(0, -1).forEach((p) => assert.ok(p.view.totalLength > mtu - 8, `fragment of ${p.view.totalLength} bytes under mtu ${mtu}`));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('keeps every option in the first fragment and only the copied ones, padded again, in the later ones', () => {
    const options = emitIpv4Options([
      { type: 1, copied: false, data: new Uint8Array(0) },
      { type: 7, copied: false, data: Uint8Array.from([4, 0, 0, 0, 0, 0, 0, 0, 0]) },
      { type: 130, copied: true, data: bytes(9) },
      { type: 68, copied: false, data: Uint8Array.from([5, 0, 0, 0, 0, 0]) },
      { type: 131, copied: true, data: Uint8Array.from([4, 10, 0, 0, 9]) },
    ]);
    assert.equal(options.length, 40);
    const packet = v4Packet(bytes(3000), { options });
    const fragments = fragmentsOf(fragmentIpv4(packet, 1000));
    const views = fragments.map((f) => {
      const v = Ipv4Packet.check(f);
      assert.ok(v.ok);
      return v.value;
    });
    assert.ok(bytesEqual(views[0]!.options, options));
    const later = emitIpv4Options([
      { type: 130, copied: true, data: bytes(9) },
      { type: 131, copied: true, data: Uint8Array.from([4, 10, 0, 0, 9]) },
    ]);
    assert.equal(later.length, 20, '11 + 7 bytes of copied options padded to 20');
    for (const v of views.slice(1)) {
      assert.equal(v.headerLength, 40);
      assert.ok(bytesEqual(v.options, later));
      const parsed = parseIpv4Options(v.options);
      assert.ok(parsed.ok);
      assert.deepEqual(parsed.value.map((o) => o.type), [130, 131]);
    }
    // First fragment: 60-byte header, floor8(1000 - 60) = 936 data; later: 40-byte header, 960 data.
    assert.deepEqual(views.map((v) => [v.fragmentOffset, v.payload().length]), [[0, 936], [936, 960], [1896, 960], [2856, 144]]);
  });

  it('drops the header back to 20 bytes when no option is copied', () => {
    const options = emitIpv4Options([{ type: 7, copied: false, data: Uint8Array.from([4, 0, 0, 0, 0, 0, 0, 0, 0]) }]);
    const fragments = fragmentsOf(fragmentIpv4(v4Packet(bytes(2000), { options }), 576));
    assert.deepEqual(fragments.map((f) => f[0]! & 0x0f), [8, 5, 5, 5]);
  });

  it('makes the classic 1500-byte split: 1480-byte pieces at offsets 0, 185 and 370 units', () => {
    const payload = bytes(4000);
    const fragments = fragmentsOf(fragmentIpv4(v4Packet(payload), 1500));
    assert.deepEqual(fragments.map((f) => [f.length, u16(f, 6)]), [[1500, 0x2000 | 0], [1500, 0x2000 | 185], [1060, 370]]);
  });

  it('refragments a fragment: offsets add up and the last piece keeps the input MF', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8000 }), fc.integer({ min: 28, max: 1600 }), fc.integer({ min: 28, max: 1600 }), (size, mtuA, mtuB) => {
        const payload = bytes(size, size);
        const packet = v4Packet(payload, { ident: 7 });
        const first = fragmentsOf(fragmentIpv4(packet, mtuA));
        const second = first.flatMap((f) => {
          const smaller = fragmentsOf(fragmentIpv4(f, mtuB));
          if (f.length > mtuB) checkV4Fragments(f, smaller, mtuB);
          return smaller;
        });
        const pieces = checkV4Fragments(packet, second, Math.max(mtuA, mtuB));
        assert.ok(bytesEqual(concatByOffset(pieces, payload.length), payload));
        assert.equal(second.filter((f) => (f[6]! & 0x20) === 0).length, 1, 'exactly one piece without MF');
      }),
      { numRuns: 300 },
    );
  });

  it('refragments a middle fragment (MF set, offset 1480) into pieces that all keep MF', () => {
    const middle = v4Packet(bytes(1480), { moreFragments: true, fragmentOffset: 1480 });
    const pieces = fragmentsOf(fragmentIpv4(middle, 596));
    assert.deepEqual(pieces.map((f) => [u16(f, 6) & 0x2000, (u16(f, 6) & 0x1fff) * 8, f.length - 20]), [
      [0x2000, 1480, 576],
      [0x2000, 2056, 576],
      [0x2000, 2632, 328],
    ]);
  });

  it('returns a packet that fits unchanged, trimmed of trailing padding', () => {
    const packet = v4Packet(bytes(100), { dontFragment: true, options: emitIpv4Options([{ type: 130, copied: true, data: bytes(9) }]) });
    const padded = new Uint8Array(packet.length + 6);
    padded.set(packet);
    const r = fragmentsOf(fragmentIpv4(padded, packet.length));
    assert.equal(r.length, 1);
    assert.ok(bytesEqual(r[0]!, packet));
    assert.notEqual(r[0]!.buffer, padded.buffer, 'a copy, not a view of the caller’s buffer');
  });

  it('refuses a DF packet larger than the mtu, naming DF; fragments it with ignoreDf, DF still set', () => {
    const packet = v4Packet(bytes(2000), { dontFragment: true });
    const r = fragmentIpv4(packet, 1500);
    assert.ok(!r.ok);
    assert.deepEqual([r.error.protocol, r.error.field, r.error.offset], ['ipv4', 'flags.df', 6]);
    assert.match(r.reason, /DF is set and the packet of 2020 bytes exceeds mtu 1500/);
    const forced = fragmentsOf(fragmentIpv4(packet, 1500, { ignoreDf: true }));
    assert.equal(forced.length, 2);
    assert.deepEqual(forced.map((f) => u16(f, 6)), [0x4000 | 0x2000, 0x4000 | 185]);
  });

  it('refuses an mtu with no room for 8 data bytes after the first header, naming mtu', () => {
    const options = emitIpv4Options([{ type: 130, copied: true, data: bytes(9) }]);
    const packet = v4Packet(bytes(100), { options });
    assert.equal(packet.length - 100, 32);
    const r = fragmentIpv4(packet, 39);
    assert.ok(!r.ok);
    assert.equal(r.error.field, 'mtu');
    assert.match(r.reason, /mtu 39 leaves no room for 8 data bytes after a 32-byte header/);
    assert.equal(fragmentsOf(fragmentIpv4(packet, 40)).length, 13);
    const none = fragmentIpv4(packet, 0);
    assert.ok(!none.ok);
    assert.equal(none.error.field, 'mtu');
  });

  it('uses the identification override for every fragment', () => {
    const fragments = fragmentsOf(fragmentIpv4(v4Packet(bytes(3000), { ident: 1 }), 1280, { ident: 0xbeef }));
    assert.deepEqual(fragments.map((f) => u16(f, 4)), [0xbeef, 0xbeef, 0xbeef]);
    const bad = fragmentIpv4(v4Packet(bytes(3000)), 1280, { ident: 0x10000 });
    assert.ok(!bad.ok);
    assert.equal(bad.error.field, 'identification');
  });

  it('refuses malformed input with the decoder’s field and offset, never throws', () => {
    const packet = v4Packet(bytes(3000));
    const cut = fragmentIpv4(packet.subarray(0, 1000), 576);
    assert.ok(!cut.ok);
    assert.deepEqual([cut.error.field, cut.error.offset], ['total_length', 2]);
    const v6 = fragmentIpv4(emitIpv6({ src: '::1', dst: '::1', nextHeader: 59, hopLimit: 1, trafficClass: 0, flowLabel: 0, payloadLength: 0 }, new Uint8Array(0)), 576);
    assert.ok(!v6.ok);
    assert.equal(v6.error.field, 'version');
    // An option whose length runs past the header: only noticed when later fragments need the copied set.
    const badOptions = Uint8Array.from([0x83, 12, 4, 0]);
    const withBad = v4Packet(bytes(2000), { options: badOptions });
    const r = fragmentIpv4(withBad, 1000);
    assert.ok(!r.ok);
    assert.deepEqual([r.error.field, r.error.offset], ['option.length', 21]);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120, size: 'max' }), fc.integer({ min: 0, max: 200 }), (junk, mtu) => {
        const res = fragmentIpv4(junk, mtu);
        if (res.ok) for (const f of res.fragments) assert.ok(f.length <= Math.max(mtu, junk.length));
      }),
      { numRuns: 2000 },
    );
  });
});

// ---------------------------------------------------------------- IPv6

const V6_SRC = 'fd00:0:0:1::2';
const V6_DST = 'fd00:0:0:1::1';

interface V6Spec {
  readonly hopByHop: number; // 0 = none, else length in 8-octet units
  readonly destBeforeRouting: number;
  readonly routing: number;
  readonly destFinal: number;
  readonly upper: 'udp' | 'tcp' | 'icmpv6' | 'none' | 'esp';
  readonly tcpWords: number;
  readonly size: number;
}

interface BuiltV6 {
  readonly packet: Uint8Array;
  /** Bytes repeated in every fragment. */
  readonly perFragment: number;
  /** Where the upper-layer header ends (RFC 7112). */
  readonly chainEnd: number;
  readonly firstFragmentable: number;
}

/** PadN options (each at most 255 data bytes) filling a header of `units` 8-octet units. */
function padOptions(units: number): { type: number; data: Uint8Array }[] {
  const out: { type: number; data: Uint8Array }[] = [];
  let remaining = units * 8 - 2;
  while (remaining >= 2) {
    let n = Math.min(remaining, 200);
    if (remaining - n === 1) n--;
    out.push({ type: 1, data: new Uint8Array(n - 2) });
    remaining -= n;
  }
  if (remaining === 1) out.push({ type: 0, data: new Uint8Array(0) });
  return out;
}

/** Builds a packet with the chain the spec asks for, remembering where RFC 8200 section 4.5 divides it. */
function buildV6(s: V6Spec): BuiltV6 {
  const headers: Ipv6ExtHeaderRepr[] = [];
  let perFragment = IPV6_HEADER;
  if (s.hopByHop > 0) headers.push({ kind: 'hop-by-hop', nextHeader: 0, options: padOptions(s.hopByHop) });
  if (s.routing > 0) {
    if (s.destBeforeRouting > 0) headers.push({ kind: 'destination-options', nextHeader: 0, options: padOptions(s.destBeforeRouting) });
    headers.push({ kind: 'routing', nextHeader: 0, routingType: 253, segmentsLeft: 0, data: bytes(s.routing * 8 - 4, 3) });
  }
  perFragment += 8 * (s.hopByHop + (s.routing > 0 ? s.destBeforeRouting + s.routing : 0));
  if (s.destFinal > 0) headers.push({ kind: 'destination-options', nextHeader: 0, options: padOptions(s.destFinal) });
  const protocolOf = (h: Ipv6ExtHeaderRepr): number =>
    ({ 'hop-by-hop': 0, routing: 43, 'destination-options': 60, fragment: 44, authentication: 51 })[h.kind];
  const upperProtocol = { udp: IpProtocol.Udp, tcp: IpProtocol.Tcp, icmpv6: IpProtocol.Icmpv6, none: IpProtocol.Ipv6NoNext, esp: IpProtocol.Esp }[s.upper];
  const linked = headers.map((h, i) => ({ ...h, nextHeader: i + 1 < headers.length ? protocolOf(headers[i + 1]!) : upperProtocol }));
  const chain = emitIpv6Chain(linked);
  let upper: Uint8Array;
  let upperHeader: number;
  switch (s.upper) {
    case 'udp':
      upper = emitUdp({ srcPort: 4000, dstPort: 5000, payloadLength: s.size }, bytes(s.size, 5), V6_SRC, V6_DST);
      upperHeader = 8;
      break;
    case 'tcp':
      upper = bytes(s.tcpWords * 4 + s.size, 6);
      upper[12] = s.tcpWords << 4;
      upper.fill(1, 20, s.tcpWords * 4); // NOP options, so the decoder accepts the header
      upperHeader = s.tcpWords * 4;
      break;
    case 'icmpv6':
      upper = bytes(8 + s.size, 7);
      upper[0] = 128;
      upperHeader = 8;
      break;
    case 'none':
    case 'esp':
      upper = bytes(s.size, 8);
      upperHeader = 0;
      break;
  }
  const payload = new Uint8Array(chain.length + upper.length);
  payload.set(chain);
  payload.set(upper, chain.length);
  const packet = emitIpv6(
    { src: V6_SRC, dst: V6_DST, nextHeader: linked.length > 0 ? protocolOf(linked[0]!) : upperProtocol, hopLimit: 64, trafficClass: 0x28, flowLabel: 0xabcde, payloadLength: payload.length },
    payload,
  );
  const fragmentableProtocols = [...linked.map(protocolOf), upperProtocol];
  const firstFragmentable = fragmentableProtocols[(s.hopByHop > 0 ? 1 : 0) + (s.routing > 0 ? (s.destBeforeRouting > 0 ? 2 : 1) : 0)]!;
  return { packet, perFragment, chainEnd: IPV6_HEADER + chain.length + Math.min(upperHeader, upper.length), firstFragmentable };
}

const arbV6Spec: fc.Arbitrary<V6Spec> = fc.record({
  hopByHop: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3 })),
  destBeforeRouting: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 })),
  routing: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3 })),
  destFinal: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 4 })),
  upper: fc.constantFrom('udp' as const, 'tcp' as const, 'icmpv6' as const, 'none' as const, 'esp' as const),
  tcpWords: fc.integer({ min: 5, max: 15 }),
  size: fc.integer({ min: 0, max: 6000 }),
});

function ceil8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

describe('fragmentIpv6', () => {
  it('repeats the per-fragment headers, adds the Fragment header, and the fragmentable part comes back whole', () => {
    fc.assert(
      fc.property(arbV6Spec, fc.integer({ min: 0, max: 1500 }), fc.integer({ min: 0, max: 0xffffffff }), (spec, slack, ident) => {
        const b = buildV6(spec);
        // The smallest mtu that can carry the chain in the first fragment and at least 8 data bytes.
        const minMtu = b.perFragment + 8 + Math.max(8, ceil8(b.chainEnd - b.perFragment));
        const mtu = minMtu + slack;
        const fragments = fragmentsOf(fragmentIpv6(b.packet, mtu, ident));
        if (b.packet.length <= mtu) {
          assert.equal(fragments.length, 1);
          assert.ok(bytesEqual(fragments[0]!, b.packet));
          return;
        }
        const pieces: { offset: number; data: Uint8Array }[] = [];
        fragments.forEach((f, i) => {
          assert.ok(f.length <= mtu, `fragment ${i}: ${f.length} > ${mtu}`);
          const v = Ipv6Packet.check(f);
          assert.ok(v.ok);
          assert.equal(v.value.payloadLength, f.length - IPV6_HEADER);
          const walked = walkIpv6Extensions(v.value);
          assert.ok(walked.ok, `fragment ${i} chain: ${JSON.stringify(!walked.ok && walked.error)}`);
          const frag = walked.value.fragment;
          assert.ok(frag, `fragment ${i} has no Fragment header`);
          assert.equal(frag.ident, ident);
          assert.equal(frag.nextHeader, b.firstFragmentable);
          assert.equal(frag.fragmentOffset % 8, 0);
          assert.deepEqual([frag.reserved1, frag.reserved2], [0, 0]);
          const last = i === fragments.length - 1;
          assert.equal(frag.moreFragments, !last);
          // Everything before the Fragment header is the original per-fragment part, next-header octet apart.
          const head = f.subarray(0, b.perFragment);
          const origHead = b.packet.subarray(0, b.perFragment);
          const diff = [...head].flatMap((x, j) => (x === origHead[j] ? [] : [j]));
          assert.ok(diff.every((j) => j === 4 || j === 5 || head[j] === IpProtocol.Ipv6Frag), `per-fragment bytes changed at ${diff.join(',')}`);
          assert.equal(f[b.perFragment], b.firstFragmentable);
          const data = f.subarray(b.perFragment + 8);
          if (!last) assert.equal(data.length % 8, 0);
          if (i === 0) assert.ok(data.length >= b.chainEnd - b.perFragment, 'RFC 7112: chain in the first fragment');
          const decoded = decodeFrame(LinkType.Raw, f);
          assert.equal(decoded.error, undefined, `decodeFrame on fragment ${i}: ${JSON.stringify(decoded.error)}`);
          pieces.push({ offset: frag.fragmentOffset, data });
        });
        const fragmentable = b.packet.subarray(b.perFragment);
        assert.ok(bytesEqual(concatByOffset(pieces, fragmentable.length), fragmentable));
      }),
      { numRuns: 500 },
    );
  });

  it('places the Fragment header after Hop-by-Hop and Routing, before the final Destination Options', () => {
    const b = buildV6({ hopByHop: 1, destBeforeRouting: 1, routing: 3, destFinal: 2, upper: 'udp', tcpWords: 5, size: 3000 });
    const fragments = fragmentsOf(fragmentIpv6(b.packet, 1280, 0xdeadbeef));
    const kinds = fragments.map((f) => {
      const v = Ipv6Packet.check(f);
      assert.ok(v.ok);
      const w = walkIpv6Extensions(v.value);
      assert.ok(w.ok);
      return w.value.headers.map((h) => h.kind).join(' ');
    });
    assert.equal(kinds[0], 'hop-by-hop destination-options routing fragment destination-options');
    for (const k of kinds.slice(1)) assert.equal(k, 'hop-by-hop destination-options routing fragment');
    // 40 + 8 + 8 + 24 = 80 bytes per fragment, +8 Fragment header: floor8(1280 - 88) = 1192 data per fragment.
    assert.deepEqual(fragments.map((f) => f.length), [1280, 1280, 88 + (16 + 3008 - 2 * 1192)]);
    assert.equal(u32(fragments[1]!, 84), 0xdeadbeef);
  });

  it('puts Destination Options without a Routing header in the fragmentable part', () => {
    const b = buildV6({ hopByHop: 0, destBeforeRouting: 0, routing: 0, destFinal: 1, upper: 'udp', tcpWords: 5, size: 2000 });
    const [first, second] = fragmentsOf(fragmentIpv6(b.packet, 1280, 1));
    assert.deepEqual([first![6], first![40], first![48]], [IpProtocol.Ipv6Frag, IpProtocol.Ipv6Opts, IpProtocol.Udp]);
    assert.deepEqual([second![6], second![40]], [IpProtocol.Ipv6Frag, IpProtocol.Ipv6Opts]);
  });

  it('refuses an mtu whose first fragment cannot hold the whole header chain (RFC 7112), naming mtu', () => {
    // A 2 KiB Destination Options header for the final destination: fragmentable, but all of it must go first.
    const b = buildV6({ hopByHop: 0, destBeforeRouting: 0, routing: 0, destFinal: 256, upper: 'udp', tcpWords: 5, size: 100 });
    const r = fragmentIpv6(b.packet, 1280, 1);
    assert.ok(!r.ok);
    assert.equal(r.error.field, 'mtu');
    assert.match(r.reason, /RFC 7112/);
    // With room for chain + UDP header (40 + 2048 + 8 + Fragment header) it goes through.
    assert.equal(fragmentsOf(fragmentIpv6(b.packet, 40 + 8 + 2056, 1)).length, 2);
    const tight = fragmentIpv6(b.packet, 40 + 8 + 2048, 1);
    assert.ok(!tight.ok, 'the UDP header counts as part of the chain');
  });

  it('refuses an mtu with no room for 8 data bytes after the per-fragment headers', () => {
    const b = buildV6({ hopByHop: 2, destBeforeRouting: 0, routing: 0, destFinal: 0, upper: 'none', tcpWords: 5, size: 200 });
    const r = fragmentIpv6(b.packet, 40 + 16 + 8 + 7, 1);
    assert.ok(!r.ok);
    assert.equal(r.error.field, 'mtu');
    assert.match(r.reason, /no room for 8 data bytes after 56 bytes of per-fragment headers/);
    assert.equal(fragmentsOf(fragmentIpv6(b.packet, 40 + 16 + 8 + 8, 1)).length, 25);
  });

  it('returns a packet that fits unchanged, or as an atomic fragment when asked (RFC 6946)', () => {
    const b = buildV6({ hopByHop: 0, destBeforeRouting: 0, routing: 0, destFinal: 0, upper: 'udp', tcpWords: 5, size: 1000 });
    const [same] = fragmentsOf(fragmentIpv6(b.packet, 1280, 9));
    assert.ok(bytesEqual(same!, b.packet));
    const atomic = fragmentsOf(fragmentIpv6(b.packet, 1280, 9, { atomic: true }));
    assert.equal(atomic.length, 1);
    const a = atomic[0]!;
    assert.equal(a.length, b.packet.length + 8);
    assert.deepEqual([a[6], a[40], u16(a, 42), u32(a, 44)], [IpProtocol.Ipv6Frag, IpProtocol.Udp, 0, 9]);
    assert.ok(bytesEqual(a.subarray(48), b.packet.subarray(40)));
    // Atomic requested but the extra 8 bytes do not fit: fragmented normally.
    const two = fragmentsOf(fragmentIpv6(b.packet, b.packet.length, 9, { atomic: true }));
    assert.equal(two.length, 2);
  });

  it('refuses a packet that already carries a Fragment header, a cut packet and a bad identification', () => {
    const b = buildV6({ hopByHop: 0, destBeforeRouting: 0, routing: 0, destFinal: 0, upper: 'udp', tcpWords: 5, size: 3000 });
    const [first] = fragmentsOf(fragmentIpv6(b.packet, 1500, 1));
    const again = fragmentIpv6(first!, 1280, 2);
    assert.ok(!again.ok);
    assert.deepEqual([again.error.protocol, again.error.field, again.error.offset], ['ipv6-ext', 'fragment', 40]);
    const cut = fragmentIpv6(b.packet.subarray(0, 1000), 576, 1);
    assert.ok(!cut.ok);
    assert.equal(cut.error.field, 'payload_length');
    const jumbo = b.packet.slice();
    jumbo[4] = 0;
    jumbo[5] = 0;
    jumbo[6] = IpProtocol.HopByHop;
    const j = fragmentIpv6(jumbo, 1280, 1);
    assert.ok(!j.ok);
    assert.match(j.reason, /jumbogram/);
    const ident = fragmentIpv6(b.packet, 1280, 2 ** 32);
    assert.ok(!ident.ok);
    assert.equal(ident.error.field, 'fragment.ident');
    const small = buildV6({ hopByHop: 0, destBeforeRouting: 0, routing: 0, destFinal: 0, upper: 'udp', tcpWords: 5, size: 100 });
    const broken = small.packet.slice();
    broken[6] = IpProtocol.Ipv6Opts;
    broken[41] = 200; // a Destination Options header of 1608 bytes, past the end of the packet
    const chain = fragmentIpv6(broken, 96, 1);
    assert.ok(!chain.ok);
    assert.deepEqual([chain.error.protocol, chain.error.field, chain.error.offset], ['ipv6-ext', 'destination-options.length', 41]);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200, size: 'max' }), fc.integer({ min: 0, max: 300 }), (junk, mtu) => {
        if (junk.length > 0) junk[0] = 0x60 | (junk[0]! & 0x0f);
        const res = fragmentIpv6(junk, mtu, 5);
        if (res.ok) for (const f of res.fragments) assert.ok(f.length <= Math.max(mtu, junk.length));
      }),
      { numRuns: 2000 },
    );
  });

  it('fragments at sub-1280 mtus for tests, which a conforming source never sends', () => {
    const b = buildV6({ hopByHop: 0, destBeforeRouting: 0, routing: 0, destFinal: 0, upper: 'icmpv6', tcpWords: 5, size: 500 });
    const fragments = fragmentsOf(fragmentIpv6(b.packet, 104, 3));
    assert.equal(fragments.length, Math.ceil(508 / 56));
    assert.ok(fragments.every((f) => f.length <= 104));
  });
});

describe('fragmenters with the address families of arbitraries', () => {
  it('IPv6 fragments carry any source and destination unchanged', () => {
    fc.assert(
      fc.property(arbIpv6Address, arbIpv6Address, (src, dst) => {
        const udp = emitUdp({ srcPort: 1, dstPort: 2, payloadLength: 2000 }, bytes(2000), src, dst);
        const packet = emitIpv6({ src, dst, nextHeader: IpProtocol.Udp, hopLimit: 9, trafficClass: 0, flowLabel: 0, payloadLength: udp.length }, udp);
        for (const f of fragmentsOf(fragmentIpv6(packet, 1280, 1))) assert.ok(bytesEqual(f.subarray(8, 40), packet.subarray(8, 40)));
      }),
      { numRuns: 100 },
    );
  });
});
