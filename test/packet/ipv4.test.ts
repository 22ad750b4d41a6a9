import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { emitIpv4, emitIpv4Options, Ipv4Packet, type Ipv4Repr, parseIpv4, parseIpv4Options } from '../../src/packet/ipv4.js';
import { arbIpv4Address } from '../support/arbitraries.js';

const arbRepr: fc.Arbitrary<Ipv4Repr> = fc
  .record({
    src: arbIpv4Address,
    dst: arbIpv4Address,
    protocol: fc.integer({ min: 0, max: 255 }),
    ttl: fc.integer({ min: 0, max: 255 }),
    dscp: fc.integer({ min: 0, max: 63 }),
    ecn: fc.integer({ min: 0, max: 3 }),
    ident: fc.integer({ min: 0, max: 0xffff }),
    reservedFlag: fc.boolean(),
    dontFragment: fc.boolean(),
    moreFragments: fc.boolean(),
    fragmentOffset: fc.integer({ min: 0, max: 0x1fff }).map((v) => v * 8),
    options: fc.integer({ min: 0, max: 10 }).chain((n) => fc.uint8Array({ minLength: n * 4, maxLength: n * 4 })),
    payloadLength: fc.integer({ min: 0, max: 1500 }),
  }, { noNullPrototype: true });

function header(bytes: number[]): Uint8Array {
  return Uint8Array.from(bytes);
}

describe('ipv4', () => {
  it('round-trips every representation through emit and parse', () => {
    fc.assert(
      fc.property(arbRepr, (repr) => {
        const bytes = emitIpv4(repr, new Uint8Array(repr.payloadLength).fill(0xab));
        const view = Ipv4Packet.check(bytes);
        assert.ok(view.ok);
        assert.ok(view.value.checksumValid());
        assert.deepEqual(parseIpv4(view.value), repr);
        assert.equal(view.value.payload().length, repr.payloadLength);
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects an IHL smaller than 5 naming the field and offset', () => {
    const b = emitIpv4({ ...base(), options: new Uint8Array(0) }, new Uint8Array(0));
    b[0] = 0x43;
    const r = Ipv4Packet.check(b);
    assert.ok(!r.ok);
    assert.deepEqual([r.error.protocol, r.error.field, r.error.offset], ['ipv4', 'ihl', 0]);
    assert.match(r.error.reason, /IHL 3 is smaller than 5/);
  });

  it('rejects a total length smaller than the header length', () => {
    const b = emitIpv4(base(), new Uint8Array(0));
    b[2] = 0;
    b[3] = 10;
    const r = Ipv4Packet.check(b);
    assert.ok(!r.ok);
    assert.deepEqual([r.error.field, r.error.offset], ['total_length', 2]);
  });

  it('reports a header length beyond the buffer as short, not as a crash', () => {
    const b = header([0x4f, 0, 0, 60, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    const r = Ipv4Packet.check(b);
    assert.ok(!r.ok);
    assert.equal(r.error.field, 'ihl');
    assert.equal(r.error.short, true);
  });

  it('keeps a truncated payload and says so; trims Ethernet padding', () => {
    const full = emitIpv4({ ...base(), payloadLength: 100 }, new Uint8Array(100));
    const cut = Ipv4Packet.check(full.subarray(0, 50));
    assert.ok(cut.ok && cut.value.truncated);
    assert.equal(cut.value.payload().length, 30);
    const padded = new Uint8Array(full.length + 10);
    padded.set(full);
    const p = Ipv4Packet.check(padded);
    assert.ok(p.ok && !p.value.truncated);
    assert.equal(p.value.payload().length, 100);
  });

  it('detects a corrupted header checksum', () => {
    const b = emitIpv4(base(), new Uint8Array(0));
    b[8] = (b[8]! + 1) & 0xff;
    const r = Ipv4Packet.check(b);
    assert.ok(r.ok && !r.value.checksumValid());
  });

  it('parses and emits options, keeping the copy flag; rejects bad option lengths', () => {
    const opts = emitIpv4Options([
      { type: 0x94, copied: true, data: Uint8Array.from([0, 0]) },
      { type: 1, copied: false, data: new Uint8Array(0) },
      { type: 0x07, copied: false, data: Uint8Array.from([4, 0, 0, 0, 0]) },
    ]);
    assert.equal(opts.length % 4, 0);
    const parsed = parseIpv4Options(opts);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.value.map((o) => [o.type, o.copied, o.data.length]), [[0x94, true, 2], [1, false, 0], [7, false, 5]]);
    const bad = parseIpv4Options(Uint8Array.from([0x07, 40, 0, 0]));
    assert.ok(!bad.ok);
    assert.equal(bad.error.field, 'option.length');
    assert.equal(bad.error.offset, 21);
  });
});

function base(): Ipv4Repr {
  return {
    src: '10.0.0.1',
    dst: '10.0.0.2',
    protocol: 6,
    ttl: 64,
    dscp: 0,
    ecn: 0,
    ident: 1,
    reservedFlag: false,
    dontFragment: true,
    moreFragments: false,
    fragmentOffset: 0,
    options: new Uint8Array(0),
    payloadLength: 0,
  };
}
