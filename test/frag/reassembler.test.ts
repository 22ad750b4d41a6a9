import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Reassembler, type FragEvent, type ReassemblyOutcome } from '../../src/frag/reassembler.js';
import { u16 } from '../../src/packet/bytes.js';
import { sum16, sumVerifies } from '../../src/packet/checksum.js';
import type { Ipv6ExtHeaderRepr } from '../../src/packet/ipv6-ext.js';
import { arbIpv4Address, arbIpv6Address } from '../support/arbitraries.js';
import { evenCuts, filled, v4Datagram, v4Fragment, v4Split, type V4Spec, v6Datagram, v6Fragment, v6Split, type V6Spec } from './fragment-builders.js';

function pattern(length: number, seed = 7): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

function completed(o: ReassemblyOutcome): Uint8Array {
  assert.equal(o.status, 'complete', `expected complete, got ${JSON.stringify(o)}`);
  return (o as { datagram: Uint8Array }).datagram;
}

function collect(): { events: FragEvent[]; onEvent: (e: FragEvent) => void } {
  const events: FragEvent[] = [];
  return { events, onEvent: (e) => events.push(e) };
}

describe('reassembler: IPv4', () => {
  const payload = pattern(4000);
  const spec: V4Spec = { src: '10.1.2.3', dst: '10.9.8.7', protocol: 17, ident: 0xbeef };
  const whole = v4Datagram(spec, payload);
  const frags = v4Split(spec, payload, evenCuts(payload.length, 1480));

  for (const [name, order] of [
    ['in order', [0, 1, 2]],
    ['reversed', [2, 1, 0]],
    ['last first', [2, 0, 1]],
    ['middle first', [1, 2, 0]],
  ] as const) {
    it(`reassembles the exact datagram ${name}`, () => {
      const r = new Reassembler();
      const outcomes = order.map((i) => r.push(frags[i]!, 1000));
      for (const o of outcomes.slice(0, -1)) assert.equal(o.status, 'pending');
      assert.deepEqual(completed(outcomes.at(-1)!), whole);
      assert.equal((outcomes.at(-1) as { fragments: number }).fragments, 3);
      assert.equal(r.memoryUsed, 0);
      assert.equal(r.pendingDatagrams, 0);
    });
  }

  it('fixes the header: MF and offset cleared, DF kept, total length and checksum right, options of the first fragment', () => {
    const options = Uint8Array.from([0x94, 4, 0, 0, 0x07, 7, 4, 0, 0, 0, 0, 0]); // router alert (copied), record route
    const s: V4Spec = { ...spec, options, dontFragment: false };
    const w = v4Datagram(s, payload);
    const r = new Reassembler();
    const parts = v4Split(s, payload, [1000, 2000, 3000]);
    let out: Uint8Array | undefined;
    for (const p of parts.reverse()) {
      const o = r.push(p, 0);
      if (o.status === 'complete') out = o.datagram;
    }
    assert.ok(out);
    assert.deepEqual(out, w);
    assert.equal(u16(out, 2), out.length);
    assert.equal(u16(out, 6) & 0x3fff, 0);
    assert.ok(sumVerifies(sum16(out, 0, 32)));
  });

  it('keeps datagrams apart by source, destination, protocol and identification', () => {
    const r = new Reassembler();
    const variants: V4Spec[] = [spec, { ...spec, protocol: 1 }, { ...spec, ident: 1 }, { ...spec, src: '10.1.2.4' }, { ...spec, dst: '10.9.8.8' }];
    const all = variants.map((v) => ({ v, parts: v4Split(v, pattern(2000, v.ident ?? 0), [1000]) }));
    for (const { parts } of all) assert.equal(r.push(parts[0]!, 0).status, 'pending');
    assert.equal(r.pendingDatagrams, variants.length);
    for (const { v, parts } of all) assert.deepEqual(completed(r.push(parts[1]!, 0)), v4Datagram(v, pattern(2000, v.ident ?? 0)));
    assert.equal(r.memoryUsed, 0);
  });

  it('passes packets that are not fragments through', () => {
    const r = new Reassembler();
    assert.equal(r.push(whole, 0).status, 'not-fragment');
    assert.equal(r.push(v6Datagram({}, pattern(100)), 0).status, 'not-fragment');
    assert.equal(r.memoryUsed, 0);
  });

  it('accepts exact duplicates silently and counts them', () => {
    const { events, onEvent } = collect();
    const r = new Reassembler({ onEvent });
    assert.equal(r.push(frags[0]!, 0).status, 'pending');
    assert.equal(r.push(frags[0]!, 0).status, 'pending');
    assert.equal(r.push(frags[2]!, 0).status, 'pending');
    assert.equal(r.push(frags[2]!, 0).status, 'pending');
    const o = r.push(frags[1]!, 0);
    assert.deepEqual(completed(o), whole);
    assert.equal((o as { fragments: number }).fragments, 3);
    assert.equal(r.stats.duplicates, 2);
    assert.deepEqual(events, []);
  });

  it('drops malformed fragments with a reason that names the field, and never throws', () => {
    const r = new Reassembler();
    const bad = frags[1]!.slice();
    bad[10]! ^= 0xff;
    const o1 = r.push(bad, 0);
    assert.equal(o1.status, 'dropped');
    assert.match((o1 as { reason: string }).reason, /ipv4\.checksum/);
    const o2 = r.push(frags[1]!.subarray(0, 600), 0);
    assert.match((o2 as { reason: string }).reason, /ipv4\.total_length/);
    const o3 = r.push(Uint8Array.from([0x45, 0]), 0);
    assert.match((o3 as { reason: string }).reason, /ipv4\.header/);
    const o4 = r.push(Uint8Array.from([0x75, ...new Array<number>(30).fill(0)]), 0);
    assert.match((o4 as { reason: string }).reason, /ip\.version/);
    assert.equal(r.memoryUsed, 0);
  });

  it('never throws and always accounts correctly on arbitrary bytes and mangled fragments', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 120, size: 'max' }),
            fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 1499 }), fc.integer({ min: 0, max: 255 })).map(([i, at, v]) => {
              const p = frags[i]!.slice();
              p[Math.min(at, p.length - 1)] = v;
              return p;
            }),
          ),
          { maxLength: 30, size: 'max' },
        ),
        (packets) => {
          const r = new Reassembler({ memoryCap: 64 * 1024 });
          for (const p of packets) {
            const o = r.push(p, 0);
            assert.ok(['not-fragment', 'pending', 'complete', 'dropped'].includes(o.status));
            assert.ok(r.memoryUsed <= 64 * 1024);
          }
          r.expire(10 ** 9);
          assert.equal(r.memoryUsed, 0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses fragments without data or whose length is not a multiple of 8 before the last', () => {
    const { events, onEvent } = collect();
    const r = new Reassembler({ onEvent });
    assert.equal(r.push(v4Fragment(spec, 0, true, filled(0, 0)), 0).status, 'dropped');
    assert.equal(r.push(v4Fragment(spec, 0, true, filled(12, 1)), 0).status, 'dropped');
    assert.deepEqual(
      events.map((e) => [e.kind, e.cause]),
      [
        ['fragment-dropped', 'empty'],
        ['fragment-dropped', 'bad-length'],
      ],
    );
    assert.equal(events[1]!.src, '10.1.2.3');
    assert.equal(events[1]!.dst, '10.9.8.7');
    assert.equal(events[1]!.identification, 0xbeef);
    assert.equal(events[1]!.protocol, 17);
    assert.equal(events[1]!.family, 4);
  });

  it('discards a datagram that would exceed 65535 bytes, and accepts one that just fits', () => {
    const { events, onEvent } = collect();
    const r = new Reassembler({ onEvent });
    assert.equal(r.push(v4Fragment(spec, 0, true, filled(64, 1)), 0).status, 'pending');
    // 20 + 65512 + 16 = 65548
    assert.equal(r.push(v4Fragment(spec, 65512, false, filled(16, 2)), 0).status, 'dropped');
    assert.deepEqual(events.map((e) => [e.kind, e.cause, e.offset, e.length]), [['datagram-discarded', 'too-long', 65512, 16]]);
    assert.equal(r.memoryUsed, 0);
    // 20 + 65512 + 3 = 65535
    assert.equal(r.push(v4Fragment(spec, 65512, false, filled(3, 2)), 0).status, 'pending');
    assert.equal(events.length, 1);
  });
});

describe('reassembler: IPv6', () => {
  const dest: Ipv6ExtHeaderRepr = { kind: 'destination-options', nextHeader: 0, options: [{ type: 1, data: new Uint8Array(4) }] };
  const hbh: Ipv6ExtHeaderRepr = { kind: 'hop-by-hop', nextHeader: 0, options: [{ type: 1, data: new Uint8Array(4) }] };
  const routing: Ipv6ExtHeaderRepr = { kind: 'routing', nextHeader: 0, routingType: 4, segmentsLeft: 0, data: new Uint8Array(4) };
  const payload = pattern(5000);

  for (const [name, unfragmentable] of [
    ['without extension headers', []],
    ['with hop-by-hop, destination options and routing before the Fragment header', [hbh, dest, routing]],
  ] as const) {
    it(`reassembles the exact packet ${name}, the Fragment header removed`, () => {
      const spec: V6Spec = { ident: 77, nextHeader: 17, unfragmentable };
      const whole = v6Datagram(spec, payload);
      const parts = v6Split(spec, payload, evenCuts(payload.length, 1232));
      const r = new Reassembler();
      for (const order of [parts, [...parts].reverse()]) {
        let out: Uint8Array | undefined;
        for (const p of order) {
          const o = r.push(p, 0);
          if (o.status === 'complete') out = o.datagram;
          else assert.equal(o.status, 'pending');
        }
        assert.deepEqual(out, whole);
      }
      assert.equal(r.memoryUsed, 0);
    });
  }

  it('keys on source, destination and identification only (the next header may differ between fragments)', () => {
    const r = new Reassembler();
    const spec: V6Spec = { ident: 5, nextHeader: 17 };
    const parts = v6Split(spec, payload, [2000]);
    const second = v6Fragment({ ...spec, nextHeader: 99 }, 2000, false, payload.subarray(2000));
    const other = v6Fragment({ ...spec, src: 'fd00::9' }, 2000, false, payload.subarray(2000));
    assert.equal(r.push(parts[0]!, 0).status, 'pending');
    assert.equal(r.push(other, 0).status, 'pending');
    // RFC 8200 section 4.5: only the offset-0 fragment's next header counts.
    assert.deepEqual(completed(r.push(second, 0)), v6Datagram(spec, payload));
    assert.equal(r.pendingDatagrams, 1);
  });

  it('returns an atomic fragment at once, without its Fragment header (RFC 6946)', () => {
    const r = new Reassembler();
    const spec: V6Spec = { ident: 9, nextHeader: 17, unfragmentable: [dest] };
    const o = r.push(v6Fragment(spec, 0, false, pattern(300)), 0);
    assert.deepEqual(completed(o), v6Datagram(spec, pattern(300)));
    assert.equal(r.pendingDatagrams, 0);
    assert.equal(r.stats.atomic, 1);
  });

  it('drops fragments whose length before the last is not a multiple of 8 (RFC 8200 section 4.5)', () => {
    const { events, onEvent } = collect();
    const r = new Reassembler({ onEvent });
    assert.equal(r.push(v6Fragment({ ident: 3 }, 8, true, filled(20, 1)), 0).status, 'dropped');
    assert.equal(events[0]!.cause, 'bad-length');
    assert.equal(events[0]!.src, 'fd00::1');
    assert.equal(events[0]!.identification, 3);
    assert.equal(events[0]!.family, 6);
  });

  it('discards a datagram whose payload length would exceed 65535', () => {
    const { events, onEvent } = collect();
    const r = new Reassembler({ onEvent });
    assert.equal(r.push(v6Fragment({ ident: 4, unfragmentable: [dest] }, 0, true, filled(64, 1)), 0).status, 'pending');
    // 8 bytes of destination options + 65528 + 16 > 65535
    assert.equal(r.push(v6Fragment({ ident: 4 }, 65528, false, filled(16, 1)), 0).status, 'dropped');
    assert.deepEqual(events.map((e) => [e.kind, e.cause]), [['datagram-discarded', 'too-long']]);
    assert.equal(r.memoryUsed, 0);
  });
});

describe('reassembler: timeouts', () => {
  it('uses 30 s for IPv4 and 60 s for IPv6 by default, and reports each expired datagram', () => {
    const { events, onEvent } = collect();
    const r = new Reassembler({ onEvent });
    r.push(v4Fragment({ ident: 1 }, 0, true, filled(16, 1)), 1000);
    r.push(v6Fragment({ ident: 1 }, 0, true, filled(16, 1)), 1000);
    r.expire(30_999);
    assert.equal(r.pendingDatagrams, 2);
    r.expire(31_000);
    assert.equal(r.pendingDatagrams, 1);
    assert.deepEqual(events.map((e) => [e.kind, e.cause, e.family]), [['datagram-discarded', 'timeout', 4]]);
    assert.equal(events[0]!.fragments, 1);
    assert.ok(events[0]!.bytes! > 16);
    // Lazily on push as well.
    assert.equal(r.push(v4Datagram({}, filled(10, 0)), 61_000).status, 'not-fragment');
    assert.equal(r.pendingDatagrams, 0);
    assert.equal(events.length, 2);
    assert.equal(events[1]!.family, 6);
    assert.equal(r.memoryUsed, 0);
    assert.equal(r.stats.timeouts, 2);
  });

  it('honours configured timeouts; a fragment arriving after the timeout starts afresh', () => {
    const r = new Reassembler({ timeoutMs: { ipv4: 500, ipv6: 700 } });
    const parts = v4Split({ ident: 2 }, pattern(100), [48]);
    r.push(parts[0]!, 0);
    assert.equal(r.push(parts[1]!, 500).status, 'pending');
    assert.equal(r.pendingDatagrams, 1);
    assert.deepEqual(completed(r.push(parts[0]!, 600)), v4Datagram({ ident: 2 }, pattern(100)));
  });

  it('returns memory to zero whether datagrams complete or expire (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ len: fc.integer({ min: 9, max: 3000 }), size: fc.integer({ min: 1, max: 100 }), keep: fc.integer({ min: 0, max: 1000 }), v6: fc.boolean() }), {
          minLength: 1,
          maxLength: 20,
          size: 'max',
        }),
        fc.integer(),
        (specs, seed) => {
          const r = new Reassembler();
          let t = 0;
          const packets: Uint8Array[] = [];
          specs.forEach((s, i) => {
            const parts = s.v6
              ? v6Split({ ident: i }, pattern(s.len, i), evenCuts(s.len, s.size * 8))
              : v4Split({ ident: i }, pattern(s.len, i), evenCuts(s.len, s.size * 8));
            packets.push(...parts.filter((_, j) => s.keep % 3 !== 0 || j % 2 === 0));
          });
          const shuffled = fc.sample(fc.shuffledSubarray(packets, { minLength: packets.length }), { seed, numRuns: 1 })[0]!;
          for (const p of shuffled) {
            r.push(p, t);
            t += 10;
          }
          r.expire(t + 60_000);
          assert.equal(r.memoryUsed, 0);
          assert.equal(r.pendingDatagrams, 0);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('reassembler: random datagrams, random fragmentation, random order and duplicates (property)', () => {
  const arbV4 = fc.record({
    src: arbIpv4Address,
    dst: arbIpv4Address,
    protocol: fc.constantFrom(1, 6, 17, 47, 253),
    ident: fc.integer({ min: 0, max: 0xffff }),
    options: fc.integer({ min: 0, max: 10 }).chain((n) => fc.uint8Array({ minLength: n * 4, maxLength: n * 4 })),
    dontFragment: fc.boolean(),
    length: fc.integer({ min: 17, max: 9000 }),
  });
  const arbV6 = fc.record({
    src: arbIpv6Address,
    dst: arbIpv6Address,
    nextHeader: fc.constantFrom(6, 17, 58, 253),
    ident: fc.integer({ min: 0, max: 0xffffffff }),
    chain: fc.subarray(['hop-by-hop', 'destination-options', 'routing'] as const),
    length: fc.integer({ min: 25, max: 9000 }),
  });
  const arbCuts = (length: number, min: number) =>
    fc
      .uniqueArray(fc.integer({ min: Math.ceil(min / 8), max: Math.floor((length - 1) / 8) }), { minLength: 1, maxLength: 40, size: 'max' })
      .map((units) => units.sort((a, b) => a - b).map((u) => u * 8));
  const arbOrder = (n: number) =>
    fc.tuple(
      fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: n - 1 }), fc.nat()), { maxLength: 8 }),
    );

  function run(parts: Uint8Array[], order: number[], dups: [number, number][], whole: Uint8Array): void {
    const seq = [...order];
    for (const [which, at] of dups) seq.splice(at % (seq.length + 1), 0, which);
    const r = new Reassembler();
    let done = 0;
    for (const i of seq) {
      const o = r.push(parts[i]!, 0);
      assert.notEqual(o.status, 'dropped', JSON.stringify(o));
      if (o.status === 'complete') {
        assert.deepEqual(o.datagram, whole);
        done++;
      }
    }
    assert.ok(done >= 1);
    r.expire(10 ** 9);
    assert.equal(r.memoryUsed, 0);
  }

  it('IPv4: exactly the datagram', () => {
    fc.assert(
      fc.property(
        arbV4.chain((s) => fc.tuple(fc.constant(s), arbCuts(s.length, s.protocol === 6 ? 16 : 8))),
        ([s, cuts]) => {
          const payload = pattern(s.length, s.ident);
          // RFC 1858 refuses a TCP fragment at offset 8; the arbitrary cut at 8 is only legal for other protocols.
          const usable = s.protocol === 6 ? cuts.filter((c) => c !== 8) : cuts;
          if (usable.length === 0) return;
          const parts = v4Split(s, payload, usable);
          const whole = v4Datagram(s, payload);
          fc.assert(fc.property(arbOrder(parts.length), ([order, dups]) => run(parts, order, dups, whole)), { numRuns: 3 });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('IPv6: exactly the packet', () => {
    fc.assert(
      fc.property(
        arbV6.chain((s) => fc.tuple(fc.constant(s), arbCuts(s.length, s.nextHeader === 6 ? 24 : 8))),
        ([s, cuts]) => {
          const unfragmentable: Ipv6ExtHeaderRepr[] = s.chain.map((kind) =>
            kind === 'routing' ? { kind, nextHeader: 0, routingType: 4, segmentsLeft: 0, data: new Uint8Array(4) } : { kind, nextHeader: 0, options: [{ type: 1, data: new Uint8Array(4) }] },
          );
          const spec: V6Spec = { src: s.src, dst: s.dst, ident: s.ident, nextHeader: s.nextHeader, unfragmentable };
          const payload = pattern(s.length, s.ident & 0xff);
          const parts = v6Split(spec, payload, cuts);
          const whole = v6Datagram(spec, payload);
          fc.assert(fc.property(arbOrder(parts.length), ([order, dups]) => run(parts, order, dups, whole)), { numRuns: 3 });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('interleaved datagrams of both families all complete exactly', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 9, max: 4000 }), fc.integer({ min: 1, max: 200 })), { minLength: 2, maxLength: 30, size: 'max' }), fc.integer(), (specs, seed) => {
        const expected = new Map<string, Uint8Array>();
        const packets: Uint8Array[] = [];
        specs.forEach(([v6, len, unit], i) => {
          const payload = pattern(len, i);
          if (v6) {
            expected.set(`6:${i}`, v6Datagram({ ident: i }, payload));
            packets.push(...v6Split({ ident: i }, payload, evenCuts(len, unit * 8)));
          } else {
            expected.set(`4:${i}`, v4Datagram({ ident: i }, payload));
            packets.push(...v4Split({ ident: i }, payload, evenCuts(len, unit * 8)));
          }
        });
        const shuffled = fc.sample(fc.shuffledSubarray(packets, { minLength: packets.length }), { seed, numRuns: 1 })[0]!;
        const r = new Reassembler();
        const got: Uint8Array[] = [];
        for (const p of shuffled) {
          const o = r.push(p, 0);
          if (o.status === 'complete') got.push(o.datagram);
          else assert.ok(o.status === 'pending' || o.status === 'not-fragment');
        }
        // An IPv4 datagram of one piece is no fragment at all; an IPv6 one is an atomic fragment, returned complete.
        const single = specs.filter(([v6, len, unit]) => !v6 && len <= unit * 8).length;
        assert.equal(got.length + single, specs.length);
        for (const g of got) assert.ok([...expected.values()].some((e) => Buffer.from(e).equals(Buffer.from(g))));
        assert.equal(r.memoryUsed, 0);
      }),
      { numRuns: 150 },
    );
  });
});
