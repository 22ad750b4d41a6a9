import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { emitGre, GrePacket, type GreRepr, parseGre } from '../../src/packet/gre.js';
import { emitGue, GueHeader, type GueRepr, parseGue } from '../../src/packet/gue.js';
import { emitVxlan, parseVxlan, VxlanHeader, type VxlanRepr } from '../../src/packet/vxlan.js';
import { fouInnerProtocol, parseFouPortMap } from '../../src/packet/fou.js';

const arbVxlan: fc.Arbitrary<VxlanRepr> = fc.record(
  {
    flags: fc.integer({ min: 0, max: 255 }),
    vni: fc.integer({ min: 0, max: 0xffffff }),
    reserved1: fc.integer({ min: 0, max: 0xffffff }),
    reserved2: fc.integer({ min: 0, max: 255 }),
  },
  { noNullPrototype: true },
);

const arbGue: fc.Arbitrary<GueRepr> = fc.oneof(
  fc.record(
    {
      variant: fc.constant(0 as const),
      control: fc.boolean(),
      protocol: fc.integer({ min: 0, max: 255 }),
      flags: fc.integer({ min: 0, max: 0xffff }),
      extensions: fc.integer({ min: 0, max: 31 }).chain((n) => fc.uint8Array({ minLength: n * 4, maxLength: n * 4 })),
    },
    { noNullPrototype: true },
  ),
  fc.record({ variant: fc.constant(1 as const), ipVersion: fc.constantFrom(4 as const, 6 as const) }, { noNullPrototype: true }),
);

const arbGre: fc.Arbitrary<GreRepr> = fc
  .record(
    {
      checksumPresent: fc.boolean(),
      key: fc.option(fc.integer({ min: 0, max: 0xffffffff }), { nil: undefined }),
      sequence: fc.option(fc.integer({ min: 0, max: 0xffffffff }), { nil: undefined }),
      protocolType: fc.constantFrom(0x0800, 0x86dd, 0x6558),
      reserved0: fc.integer({ min: 0, max: 0xffff }).map((v) => v & 0x4ff8),
      reserved1: fc.integer({ min: 0, max: 0xffff }),
    },
    { noNullPrototype: true },
  )
  .map((r) => {
    const out: { -readonly [K in keyof GreRepr]: GreRepr[K] } = { ...r, reserved1: r.checksumPresent ? r.reserved1 : 0 };
    if (out.key === undefined) delete out.key;
    if (out.sequence === undefined) delete out.sequence;
    return out;
  });

describe('vxlan', () => {
  it('round-trips', () => {
    fc.assert(
      fc.property(arbVxlan, fc.uint8Array({ maxLength: 64, size: 'max' }), (repr, payload) => {
        const h = VxlanHeader.check(emitVxlan(repr, payload));
        assert.ok(h.ok);
        assert.deepEqual(parseVxlan(h.value), repr);
        assert.deepEqual(h.value.payload(), payload);
        assert.equal(h.value.vniValid, (repr.flags & 8) !== 0);
      }),
      { numRuns: 1000 },
    );
  });
  it('reports a short header', () => {
    const r = VxlanHeader.check(new Uint8Array(7));
    assert.ok(!r.ok && r.error.short && r.error.protocol === 'vxlan' && r.error.field === 'header');
  });
});

describe('gue', () => {
  it('round-trips both variants', () => {
    fc.assert(
      fc.property(arbGue, fc.uint8Array({ maxLength: 64, size: 'max' }), (repr, tail) => {
        const payload = repr.variant === 1 ? Uint8Array.from([repr.ipVersion << 4, ...tail]) : tail;
        const h = GueHeader.check(emitGue(repr, payload));
        assert.ok(h.ok);
        assert.deepEqual(parseGue(h.value), repr);
        assert.deepEqual(h.value.payload(), payload);
      }),
      { numRuns: 1000 },
    );
  });
  it('maps variant 1 to the IP protocol numbers', () => {
    const v4 = GueHeader.check(Uint8Array.from([0x45, 0]));
    const v6 = GueHeader.check(Uint8Array.from([0x60, 0]));
    assert.ok(v4.ok && v6.ok);
    assert.equal(v4.value.protocol, 4);
    assert.equal(v6.value.protocol, 41);
  });
  it('rejects reserved variants and bad direct-IP versions', () => {
    const reserved = GueHeader.check(Uint8Array.from([0x80, 4, 0, 0]));
    assert.ok(!reserved.ok && reserved.error.field === 'variant' && /reserved/.test(reserved.error.reason));
    const badIp = GueHeader.check(Uint8Array.from([0x50, 0, 0, 0]));
    assert.ok(!badIp.ok && badIp.error.field === 'variant' && /nibble is 5/.test(badIp.error.reason));
  });
  it('reports extension fields past the buffer as short hlen', () => {
    const r = GueHeader.check(Uint8Array.from([0x03, 4, 0, 0, 1, 2, 3, 4]));
    assert.ok(!r.ok);
    assert.deepEqual([r.error.field, r.error.offset, r.error.short], ['hlen', 0, true]);
  });
});

describe('gre', () => {
  it('round-trips with every combination of optional fields; checksums verify', () => {
    fc.assert(
      fc.property(arbGre, fc.uint8Array({ maxLength: 64, size: 'max' }), (repr, payload) => {
        const bytes = emitGre(repr, payload);
        const p = GrePacket.check(bytes);
        assert.ok(p.ok);
        assert.deepEqual(parseGre(p.value), repr);
        assert.deepEqual(p.value.payload(), payload);
        assert.equal(p.value.checksumStatus(), repr.checksumPresent ? 'good' : 'unverified');
      }),
      { numRuns: 1000 },
    );
  });
  it('detects a bad checksum and does not verify a truncated packet', () => {
    const bytes = emitGre({ checksumPresent: true, key: 7, protocolType: 0x0800, reserved0: 0, reserved1: 0 }, Uint8Array.from([1, 2, 3, 4]));
    const p = GrePacket.check(bytes);
    assert.ok(p.ok);
    assert.equal(p.value.checksumStatus(), 'good');
    bytes[bytes.length - 1]! ^= 0xff;
    assert.equal(p.value.checksumStatus(), 'bad');
    assert.equal(p.value.checksumStatus(bytes.length + 10), 'unverified');
  });
  it('rejects PPTP enhanced GRE and optional fields past the buffer', () => {
    const v1 = GrePacket.check(Uint8Array.from([0x30, 0x01, 0x88, 0x0b]));
    assert.ok(!v1.ok && v1.error.field === 'version' && /PPTP/.test(v1.error.reason));
    const cut = GrePacket.check(Uint8Array.from([0xb0, 0x00, 0x08, 0x00, 0, 0, 0, 0]));
    assert.ok(!cut.ok);
    assert.deepEqual([cut.error.field, cut.error.short], ['flags', true]);
  });
});

describe('fou', () => {
  it('parses port maps and names a bad entry', () => {
    const m = parseFouPortMap('5555:4,5556:41');
    assert.ok(m.ok);
    assert.equal(fouInnerProtocol(m.value, 5556), 41);
    assert.equal(fouInnerProtocol(m.value, 9), undefined);
    const bad = parseFouPortMap('5555:4,70000:4');
    assert.ok(!bad.ok);
    assert.match(bad.error.reason, /70000/);
    assert.equal(bad.error.offset, 7);
    const junk = parseFouPortMap('x');
    assert.ok(!junk.ok && /PORT:IPPROTO/.test(junk.error.reason));
  });
});
