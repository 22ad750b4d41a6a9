import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PathMtuCache, type PmtuEvent } from '../../src/pmtu/path-mtu-cache.js';
import { estimateFromOldStyleMessage, plateauBelow } from '../../src/pmtu/plateau.js';

const MIN = 60_000;

function cache(extra: ConstructorParameters<typeof PathMtuCache>[0] = {}): { c: PathMtuCache; events: PmtuEvent[] } {
  const events: PmtuEvent[] = [];
  const c = new PathMtuCache({ linkMtu: 1500, onEvent: (e) => events.push(e), ...extra });
  return { c, events };
}

describe('RFC 1191 plateau table', () => {
  it('picks the largest plateau strictly below a length', () => {
    assert.equal(plateauBelow(1500), 1492);
    assert.equal(plateauBelow(1492), 1006);
    assert.equal(plateauBelow(1493), 1492);
    assert.equal(plateauBelow(4352), 2002);
    assert.equal(plateauBelow(65536), 65535);
    assert.equal(plateauBelow(577), 508);
    assert.equal(plateauBelow(69), 68);
    assert.equal(plateauBelow(68), 68, 'nothing below 68: the floor');
  });

  it('takes the header length off a Total Length not below the estimate (4.2BSD routers, RFC 1191 section 5)', () => {
    assert.deepEqual(estimateFromOldStyleMessage(1500, 20, 1500), { estimate: 1006, adjustedLength: 1480, bsdAdjusted: true });
    assert.deepEqual(estimateFromOldStyleMessage(1500, 60, 9000), { estimate: 1492, adjustedLength: 1500, bsdAdjusted: false });
    assert.deepEqual(estimateFromOldStyleMessage(4352, 24, 4352), { estimate: 2002, adjustedLength: 4328, bsdAdjusted: true });
  });
});

describe('PathMtuCache', () => {
  it('starts every destination at the first-hop MTU, per family or per lookup, without storing it', () => {
    const c = new PathMtuCache({ linkMtu: { 4: 1500, 6: 9000 } });
    assert.deepEqual(c.lookup('10.0.0.1', 4, 0), { mtu: 1500, linkMtu: 1500, lowered: false });
    assert.deepEqual(c.lookup('fd00::1', 6, 0), { mtu: 9000, linkMtu: 9000, lowered: false });
    assert.equal(c.lookup('10.0.0.1', 4, 0, 1400).mtu, 1400);
    assert.equal(c.size, 0);
    assert.throws(() => new PathMtuCache({}).lookup('10.0.0.1', 4, 0), /no first-hop MTU for IPv4/);
    assert.throws(() => new PathMtuCache({ linkMtu: { 6: 1000 } }), /not a valid IPv6 link MTU/);
  });

  it('lowers on a Packet Too Big and explains why', () => {
    const { c, events } = cache();
    const e = c.packetTooBig({ destination: '10.0.3.2', family: 4, mtu: 1400, quotedLength: 1500 }, 1000);
    assert.equal(e.kind, 'lowered');
    assert.deepEqual([e.previousMtu, e.mtu, e.reportedMtu], [1500, 1400, 1400]);
    assert.match(e.reason, /next-hop MTU 1400: estimate lowered from 1500 to 1400 until 601000/);
    assert.deepEqual(events, [e]);
    assert.deepEqual(c.lookup('10.0.3.2', 4, 2000), { mtu: 1400, linkMtu: 1500, lowered: true, expiresAtMs: 601_000 });
    assert.equal(c.lookup('10.0.3.3', 4, 2000).mtu, 1500, 'other destinations keep the link MTU');
    assert.equal(c.lookup('10.0.3.2', 6, 2000).mtu, 1500, 'the same text in the other family is another path');
  });

  it('never raises on a Packet Too Big; an equal one confirms and restarts the expiry', () => {
    const { c } = cache();
    c.packetTooBig({ destination: 'd', family: 4, mtu: 1400 }, 0);
    const higher = c.packetTooBig({ destination: 'd', family: 4, mtu: 1450 }, 10);
    assert.equal(higher.kind, 'ignored');
    assert.match(higher.reason, /above the estimate 1400, and a Packet Too Big never raises/);
    assert.equal(c.lookup('d', 4, 20).mtu, 1400);
    const same = c.packetTooBig({ destination: 'd', family: 4, mtu: 1400 }, 5 * MIN);
    assert.equal(same.kind, 'confirmed');
    assert.equal(c.lookup('d', 4, 5 * MIN).expiresAtMs, 15 * MIN);
    const atLink = c.packetTooBig({ destination: 'e', family: 4, mtu: 1500 }, 0);
    assert.equal(atLink.kind, 'ignored');
    assert.match(atLink.reason, /already the first-hop MTU/);
    assert.equal(c.size, 1);
  });

  it('ignores values below the family minimum (68 IPv4, 1280 IPv6) and accepts the minimum itself', () => {
    const { c } = cache({ linkMtu: 1500 });
    assert.equal(c.packetTooBig({ destination: 'a', family: 4, mtu: 67 }, 0).kind, 'ignored');
    assert.equal(c.packetTooBig({ destination: 'a', family: 4, mtu: 1 }, 0).kind, 'ignored');
    assert.equal(c.lookup('a', 4, 0).mtu, 1500);
    assert.equal(c.packetTooBig({ destination: 'a', family: 4, mtu: 68 }, 0).kind, 'lowered');
    assert.equal(c.lookup('a', 4, 0).mtu, 68);
    const v6 = c.packetTooBig({ destination: 'b', family: 6, mtu: 1279 }, 0);
    assert.equal(v6.kind, 'ignored');
    assert.match(v6.reason, /below the IPv6 minimum 1280.*RFC 8021/);
    assert.equal(c.packetTooBig({ destination: 'b', family: 6, mtu: 0 }, 0).kind, 'ignored', 'no old-router case for IPv6');
    assert.equal(c.lookup('b', 6, 0).mtu, 1500);
    assert.equal(c.packetTooBig({ destination: 'b', family: 6, mtu: 1280 }, 0).kind, 'lowered');
    assert.equal(c.lookup('b', 6, 0).mtu, 1280);
  });

  it("clamps to the minimum instead when configured (Linux's behaviour)", () => {
    const { c } = cache({ belowMinimum: 'clamp' });
    const e = c.packetTooBig({ destination: 'b', family: 6, mtu: 576 }, 0);
    assert.deepEqual([e.kind, e.mtu], ['lowered', 1280]);
    assert.equal(c.packetTooBig({ destination: 'a', family: 4, mtu: 20 }, 0).mtu, 68);
  });

  it('ignores bogus values: not below the quoted packet, or not a 32-bit unsigned integer', () => {
    const { c } = cache();
    const equal = c.packetTooBig({ destination: 'd', family: 4, mtu: 1400, quotedLength: 1400 }, 0);
    assert.equal(equal.kind, 'ignored');
    assert.match(equal.reason, /bogus: reported MTU 1400 is not smaller than the 1400-byte packet/);
    assert.equal(c.packetTooBig({ destination: 'd', family: 6, mtu: 1450, quotedLength: 1300 }, 0).kind, 'ignored');
    for (const mtu of [-1, 1400.5, Number.NaN, 2 ** 32]) {
      assert.equal(c.packetTooBig({ destination: 'd', family: 4, mtu }, 0).kind, 'ignored', String(mtu));
    }
    assert.equal(c.lookup('d', 4, 0).mtu, 1500);
    assert.equal(c.packetTooBig({ destination: 'd', family: 4, mtu: 1399, quotedLength: 1400 }, 0).mtu, 1399);
  });

  it('estimates from the plateau table when an old router reports MTU 0 (RFC 1191 section 5)', () => {
    const { c } = cache({ linkMtu: 9000 });
    // Quoted 4352 < estimate 9000: a correct Total Length; the largest plateau below it is 2002.
    const first = c.packetTooBig({ destination: 'd', family: 4, mtu: 0, quotedLength: 4352 }, 0);
    assert.deepEqual([first.kind, first.mtu], ['lowered', 2002]);
    assert.match(first.reason, /plateau below the quoted length 4352/);
    // Quoted 2002 is not below the estimate 2002: it may be Total Length + header length; 2002 - 20 = 1982 → 1492.
    const second = c.packetTooBig({ destination: 'd', family: 4, mtu: 0, quotedLength: 2002, quotedHeaderLength: 20 }, 1);
    assert.deepEqual([second.mtu, second.reason.includes('4.2BSD')], [1492, true]);
    // Without a quoted length the dropped packet was at most the estimate: next plateau down.
    assert.equal(c.packetTooBig({ destination: 'd', family: 4, mtu: 0 }, 2).mtu, 1006);
    assert.equal(c.packetTooBig({ destination: 'd', family: 4, mtu: 0 }, 3).mtu, 508);
    assert.equal(c.packetTooBig({ destination: 'd', family: 4, mtu: 0 }, 4).mtu, 296);
    assert.equal(c.packetTooBig({ destination: 'd', family: 4, mtu: 0 }, 5).mtu, 68);
    const floor = c.packetTooBig({ destination: 'd', family: 4, mtu: 0 }, 6);
    assert.deepEqual([floor.kind, floor.mtu], ['confirmed', 68], 'never below 68');
    // An old-style estimate above the current one does not raise it.
    const { c: c2 } = cache();
    c2.packetTooBig({ destination: 'd', family: 4, mtu: 600 }, 0);
    assert.equal(c2.packetTooBig({ destination: 'd', family: 4, mtu: 0, quotedLength: 4000 }, 1).kind, 'ignored');
  });

  it('raises a lowered estimate back to the first-hop MTU after 10 minutes, and lowers again on the next PTB', () => {
    const { c, events } = cache();
    c.packetTooBig({ destination: 'd', family: 4, mtu: 1400 }, 0);
    assert.equal(c.lookup('d', 4, 10 * MIN - 1).mtu, 1400);
    events.length = 0;
    assert.deepEqual(c.lookup('d', 4, 10 * MIN), { mtu: 1500, linkMtu: 1500, lowered: false });
    assert.equal(events.length, 1);
    assert.deepEqual([events[0]?.kind, events[0]?.previousMtu, events[0]?.mtu], ['raised', 1400, 1500]);
    assert.match(events[0]?.reason ?? '', /expired at 600000 .*raised to the first-hop MTU 1500/);
    assert.equal(c.size, 0);
    assert.equal(c.packetTooBig({ destination: 'd', family: 4, mtu: 1400 }, 10 * MIN + 5).kind, 'lowered');
    assert.equal(c.lookup('d', 4, 10 * MIN + 6).mtu, 1400);
  });

  it('sweeps expired estimates with expire(), each with an event, and honours a configured interval', () => {
    const { c, events } = cache({ expiryMs: 20 * MIN });
    c.packetTooBig({ destination: 'a', family: 4, mtu: 1400 }, 0);
    c.packetTooBig({ destination: 'b', family: 6, mtu: 1300 }, 5 * MIN);
    events.length = 0;
    c.expire(20 * MIN - 1);
    assert.equal(events.length, 0);
    c.expire(20 * MIN);
    assert.deepEqual(events.map((e) => [e.kind, e.destination]), [['raised', 'a']]);
    c.expire(25 * MIN);
    assert.deepEqual(events.map((e) => e.destination), ['a', 'b']);
    assert.equal(c.size, 0);
  });

  it('refuses an expiry shorter than the 5 minutes both RFCs require', () => {
    assert.throws(() => new PathMtuCache({ linkMtu: 1500, expiryMs: 5 * MIN - 1 }), /RFC 1191 section 6.3/);
    assert.doesNotThrow(() => new PathMtuCache({ linkMtu: 1500, expiryMs: 5 * MIN }));
    assert.throws(() => new PathMtuCache({ linkMtu: 1500, maxEntries: 0 }), /maxEntries/);
  });

  it('never reports more than the first-hop MTU of the lookup', () => {
    const { c } = cache();
    c.packetTooBig({ destination: 'd', family: 4, mtu: 1400 }, 0);
    assert.deepEqual(c.lookup('d', 4, 1, 1300), { mtu: 1300, linkMtu: 1300, lowered: false });
    assert.equal(c.lookup('d', 4, 2, 1500).mtu, 1400);
  });

  it('stays bounded under a flood of spoofed Packet Too Big messages, forgetting the least recently used', () => {
    const { c, events } = cache({ maxEntries: 100 });
    c.packetTooBig({ destination: 'real-busy', family: 4, mtu: 1400 }, 0);
    c.packetTooBig({ destination: 'real-idle', family: 4, mtu: 1300 }, 0);
    let maxSize = 0;
    for (let i = 0; i < 20_000; i++) {
      c.packetTooBig({ destination: `spoofed-${i}`, family: i % 2 === 0 ? 4 : 6, mtu: 1280 + (i % 200) }, i);
      if (i % 50 === 0) assert.equal(c.lookup('real-busy', 4, i).mtu, 1400, `busy destination lost at ${i}`);
      maxSize = Math.max(maxSize, c.size);
    }
    assert.equal(maxSize, 100);
    assert.equal(c.lookup('real-idle', 4, 20_000).mtu, 1500, 'an idle destination is forgotten');
    const evicted = events.filter((e) => e.kind === 'evicted');
    assert.equal(evicted.length, 20_002 - 100);
    assert.match(evicted[0]?.reason ?? '', /cache full \(100 destinations\)/);
    assert.equal(evicted[0]?.destination, 'real-idle');
  });

  it('property: estimates only fall on a PTB, stay within [minimum, link MTU], and rise only by expiry', () => {
    const step = fc.record({
      dest: fc.integer({ min: 0, max: 3 }),
      family: fc.constantFrom(4 as const, 6 as const),
      mtu: fc.oneof(fc.integer({ min: 0, max: 70_000 }), fc.integer({ min: 1200, max: 1600 }), fc.constant(0)),
      quoted: fc.option(fc.integer({ min: 20, max: 70_000 }), { nil: undefined }),
      dtMs: fc.integer({ min: 0, max: 4 * MIN }),
    }, { noNullPrototype: true });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60, size: 'max' }), fc.constantFrom<'ignore' | 'clamp'>('ignore', 'clamp'), (steps, mode) => {
        const events: PmtuEvent[] = [];
        const c = new PathMtuCache({ linkMtu: 9000, maxEntries: 3, belowMinimum: mode, onEvent: (e) => events.push(e) });
        let now = 0;
        for (const s of steps) {
          now += s.dtMs;
          const dest = `d${s.dest}`;
          const before = c.lookup(dest, s.family, now).mtu;
          events.length = 0;
          const e = c.packetTooBig({ destination: dest, family: s.family, mtu: s.mtu, quotedLength: s.quoted }, now);
          const after = c.lookup(dest, s.family, now).mtu;
          assert.ok(after <= before, `raised by a PTB: ${before} -> ${after}`);
          assert.ok(after >= (s.family === 4 ? 68 : 1280));
          assert.ok(after <= 9000);
          if (e.kind === 'lowered') {
            assert.ok(e.mtu < before);
            if (s.mtu !== 0 && mode === 'ignore') assert.equal(e.mtu, s.mtu);
            if (s.mtu !== 0 && s.quoted !== undefined) assert.ok(s.mtu < s.quoted);
          } else if (e.kind !== 'evicted') {
            assert.equal(after, before);
          }
          assert.ok(events.every((x) => x.reason.length > 0));
          assert.ok(c.size <= 3);
        }
      }),
      { numRuns: 500 },
    );
  });
});
