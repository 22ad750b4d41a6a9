import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseIpText } from '../../src/packet/address.js';
import { foldSum, pseudoHeaderSum } from '../../src/packet/checksum.js';
import { IpProtocol } from '../../src/packet/ip-protocol.js';
import type { Decoded, DecodeError } from '../../src/packet/result.js';
import { emitTcp, parseTcp, TcpFlag, TcpPacket, type TcpRepr } from '../../src/packet/tcp.js';
import { emitTcpOptions, MALFORMED_TCP_OPTIONS, NO_MSS_OPTION, parseTcpOptions, scanTcpOptionsMss, type TcpOption, tcpOptionSummary } from '../../src/packet/tcp-options.js';
import { arbIpv4Address, arbIpv6Address } from '../support/arbitraries.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });

/** Options that are not End/padding; each has exactly one encoding, so any list of them round-trips. */
const arbOption: fc.Arbitrary<TcpOption> = fc.oneof(
  fc.constant<TcpOption>({ kind: 'nop' }),
  u16.map<TcpOption>((value) => ({ kind: 'mss', value })),
  fc.integer({ min: 0, max: 255 }).map<TcpOption>((shift) => ({ kind: 'window-scale', shift })),
  fc.constant<TcpOption>({ kind: 'sack-permitted' }),
  fc.array(fc.record({ left: u32, right: u32 }, { noNullPrototype: true }), { minLength: 1, maxLength: 4 }).map<TcpOption>((blocks) => ({ kind: 'sack', blocks })),
  fc.tuple(u32, u32).map<TcpOption>(([value, echo]) => ({ kind: 'timestamps', value, echo })),
  fc
    .tuple(fc.integer({ min: 6, max: 255 }).filter((t) => t !== 8), fc.uint8Array({ maxLength: 12, size: 'max' }))
    .map<TcpOption>(([type, data]) => ({ kind: 'unknown', type, data })),
);

function encodedLength(options: readonly TcpOption[]): number {
  let n = 0;
  for (const o of options) {
    if (o.kind === 'nop' || o.kind === 'end') n += 1;
    else if (o.kind === 'padding') n += o.data.length;
    else if (o.kind === 'mss') n += 4;
    else if (o.kind === 'window-scale') n += 3;
    else if (o.kind === 'sack-permitted') n += 2;
    else if (o.kind === 'sack') n += 2 + 8 * o.blocks.length;
    else if (o.kind === 'timestamps') n += 10;
    else n += 2 + o.data.length;
  }
  return n;
}

const arbOptions = fc.array(arbOption, { maxLength: 12 }).filter((l) => encodedLength(l) <= 40);

const arbRepr = (payloadLength: number): fc.Arbitrary<TcpRepr> =>
  fc.record(
    {
      srcPort: u16,
      dstPort: u16,
      seq: u32,
      ack: u32,
      flags: fc.integer({ min: 0, max: 0xfff }),
      window: u16,
      urgentPointer: u16,
      options: arbOptions,
      payloadLength: fc.constant(payloadLength),
    },
    { noNullPrototype: true },
  );

const arbSegment = fc
  .uint8Array({ maxLength: 200, size: 'max' })
  .chain((payload) => fc.tuple(arbRepr(payload.length), fc.constant(payload)))
  .chain(([repr, payload]) => fc.tuple(fc.constant(repr), fc.constant(payload), fc.oneof(fc.tuple(arbIpv4Address, arbIpv4Address), fc.tuple(arbIpv6Address, arbIpv6Address))));

function ip(text: string): Uint8Array {
  const b = parseIpText(text);
  assert.ok(b);
  return b;
}

function errorOf<T>(r: Decoded<T>): DecodeError {
  assert.ok(!r.ok, 'expected a decode error');
  return r.error;
}

function checked(bytes: Uint8Array, claimed = bytes.length): TcpPacket {
  const v = TcpPacket.check(bytes, claimed);
  assert.ok(v.ok, !v.ok ? JSON.stringify(v.error) : '');
  return v.value;
}

function base(over: Partial<TcpRepr> = {}): TcpRepr {
  return { srcPort: 40000, dstPort: 443, seq: 1, ack: 0, flags: TcpFlag.Syn, window: 64240, urgentPointer: 0, options: [], payloadLength: 0, ...over };
}

/** A segment whose options area is `area` verbatim (a multiple of 4 bytes). */
function withOptionBytes(area: number[]): Uint8Array {
  const seg = emitTcp(base(), new Uint8Array(0), '10.0.0.1', '10.0.0.2');
  const out = new Uint8Array(20 + area.length);
  out.set(seg);
  out[12] = ((20 + area.length) / 4) << 4;
  out.set(area, 20);
  return out;
}

describe('tcp', () => {
  it('round-trips segments with random options over IPv4 and IPv6; the checksum verifies and catches a flipped byte', () => {
    fc.assert(
      fc.property(arbSegment, fc.nat(), ([repr, payload, [src, dst]], pick) => {
        const bytes = emitTcp(repr, payload, src, dst);
        const p = checked(bytes);
        assert.equal(p.headerLength % 4, 0);
        assert.equal(p.truncated, false);
        assert.deepEqual(p.payload(), payload);
        const parsed = parseTcp(p);
        assert.ok(parsed.ok);
        assert.deepEqual(parsed.value, repr);
        assert.deepEqual(emitTcp(parsed.value, p.payload(), src, dst), bytes);
        assert.equal(p.checksumStatus(ip(src), ip(dst)), 'good');
        const flipped = bytes.slice();
        // The low bit of byte 12 is NS, not the data offset, so every position keeps the view valid.
        flipped[pick % bytes.length]! ^= 0x01;
        // Once in 65535 the damaged segment's checksum field is exactly the offload seed: then it is `partial`.
        const seed = foldSum(pseudoHeaderSum(ip(src), ip(dst), IpProtocol.Tcp, bytes.length));
        assert.equal(checked(flipped).checksumStatus(ip(src), ip(dst)), checked(flipped).checksum === seed ? 'partial' : 'bad');
      }),
      { numRuns: 1000 },
    );
  });

  it('decodes the fields of a known SYN', () => {
    const seg = Uint8Array.from([
      ...[0x9c, 0x40, 0x00, 0x50], // 40000 > 80
      ...[0x00, 0x00, 0x03, 0xe8], // seq 1000
      ...[0x00, 0x00, 0x00, 0x00],
      ...[0x80, 0x02, 0xfa, 0xf0], // data offset 8, SYN, window 64240
      ...[0x00, 0x00, 0x00, 0x00],
      ...[0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x01, 0x01, 0x03, 0x03, 0x07, 0x00],
    ]);
    const p = checked(seg);
    assert.deepEqual([p.srcPort, p.dstPort, p.seq, p.ack, p.flags, p.window, p.headerLength, p.payloadLength], [40000, 80, 1000, 0, TcpFlag.Syn, 64240, 32, 0]);
    const r = parseTcp(p);
    assert.ok(r.ok);
    assert.deepEqual(r.value.options, [{ kind: 'mss', value: 1460 }, { kind: 'sack-permitted' }, { kind: 'nop' }, { kind: 'nop' }, { kind: 'window-scale', shift: 7 }]);
    assert.deepEqual(tcpOptionSummary(r.value.options), { mss: 1460, windowScale: 7, sackPermitted: true, sackBlocks: 0 });
  });

  it('reads all 12 flag bits, reserved ones included', () => {
    const seg = emitTcp(base({ flags: 0xfff }), new Uint8Array(0), '10.0.0.1', '10.0.0.2');
    assert.equal(seg[12]! & 0x0f, 0x0f);
    assert.equal(checked(seg).flags, 0xfff);
    const synAck = checked(emitTcp(base({ flags: TcpFlag.Syn | TcpFlag.Ack | TcpFlag.Ece }), new Uint8Array(0), '10.0.0.1', '10.0.0.2'));
    assert.equal(synAck.flags, 0x052);
    assert.throws(() => emitTcp(base({ flags: 0x1000 }), new Uint8Array(0), '10.0.0.1', '10.0.0.2'), RangeError);
  });

  it('reports fewer than 20 bytes as a short header', () => {
    const e = errorOf(TcpPacket.check(new Uint8Array(19), 40));
    assert.deepEqual([e.protocol, e.field, e.offset, e.short], ['tcp', 'header', 0, true]);
  });

  it('rejects a data offset smaller than 5', () => {
    const seg = emitTcp(base(), new Uint8Array(0), '10.0.0.1', '10.0.0.2');
    seg[12] = 0x40;
    const e = errorOf(TcpPacket.check(seg, seg.length));
    assert.deepEqual([e.protocol, e.field, e.offset, e.short], ['tcp', 'data_offset', 12, undefined]);
  });

  it('rejects a header longer than the segment the IP header claims, even if the bytes are there', () => {
    const seg = withOptionBytes([1, 1, 1, 1]);
    const e = errorOf(TcpPacket.check(seg, 20));
    assert.deepEqual([e.protocol, e.field, e.offset, e.short], ['tcp', 'data_offset', 12, undefined]);
    assert.match(e.reason, /past the segment/);
  });

  it('reports a header cut by the buffer (but within the claimed segment) as short', () => {
    const seg = withOptionBytes([1, 1, 1, 1]);
    const e = errorOf(TcpPacket.check(seg.subarray(0, 22), 100));
    assert.deepEqual([e.protocol, e.field, e.offset, e.short], ['tcp', 'data_offset', 12, true]);
  });

  it('keeps a segment longer than the buffer: truncated, payload as far as present, checksum unverified', () => {
    const payload = new Uint8Array(100).fill(3);
    const seg = emitTcp(base({ payloadLength: 100 }), payload, 'fd00::1', 'fd00::2');
    const p = checked(seg.subarray(0, 70), seg.length);
    assert.equal(p.truncated, true);
    assert.equal(p.payloadLength, 100);
    assert.equal(p.payload().length, 50);
    assert.equal(p.checksumStatus(ip('fd00::1'), ip('fd00::2')), 'unverified');
    const r = parseTcp(p);
    assert.ok(r.ok && r.value.payloadLength === 100);
  });

  it('stops at the claimed length when the buffer holds more', () => {
    const seg = emitTcp(base({ payloadLength: 4 }), Uint8Array.from([1, 2, 3, 4]), '10.0.0.1', '10.0.0.2');
    const padded = new Uint8Array(seg.length + 6).fill(0xee);
    padded.set(seg);
    const p = checked(padded, seg.length);
    assert.deepEqual(p.payload(), Uint8Array.from([1, 2, 3, 4]));
    assert.equal(p.checksumStatus(ip('10.0.0.1'), ip('10.0.0.2')), 'good');
  });

  it('refuses a payload that disagrees with the repr', () => {
    assert.throws(() => emitTcp(base({ payloadLength: 3 }), new Uint8Array(2), '10.0.0.1', '10.0.0.2'), RangeError);
  });

  it('gives a value or a short error for every prefix of a valid segment', () => {
    fc.assert(
      fc.property(arbSegment, ([repr, payload, [src, dst]]) => {
        const full = emitTcp(repr, payload, src, dst);
        for (let len = 0; len < full.length; len++) {
          const v = TcpPacket.check(full.subarray(0, len), full.length);
          if (!v.ok) {
            assert.equal(v.error.short, true, JSON.stringify(v.error));
            continue;
          }
          assert.equal(v.value.truncated, true);
          assert.equal(v.value.checksumStatus(ip(src), ip(dst)), 'unverified');
          assert.ok(parseTcp(v.value).ok);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('tcp options', () => {
  it('rejects known options with the wrong length, naming the length octet in the TCP header', () => {
    const cases: [number[], number][] = [
      [[2, 3, 5, 0], 21], // MSS length 3
      [[1, 3, 4, 7], 22], // window scale length 4
      [[4, 3, 0, 0], 21], // SACK permitted length 3
      [[1, 1, 8, 8, 0, 0, 0, 0, 0, 0, 0, 0], 23], // timestamps length 8
      [[5, 2, 0, 0], 21], // SACK with no blocks
      [[5, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 21], // SACK not 2 + 8n
    ];
    for (const [area, offset] of cases) {
      const r = parseTcp(checked(withOptionBytes(area)));
      const e = errorOf(r);
      assert.deepEqual([e.protocol, e.field, e.offset, e.short], ['tcp', 'option.length', offset, undefined], JSON.stringify(area));
    }
  });

  it('rejects lengths below 2, past the header, or missing', () => {
    const cases: [number[], number][] = [
      [[30, 1, 0, 0], 21],
      [[30, 0, 0, 0], 21],
      [[1, 30, 6, 0], 22],
      [[1, 1, 1, 30], 23],
    ];
    for (const [area, offset] of cases) {
      const e = errorOf(parseTcpOptions(Uint8Array.from(area), 20));
      assert.deepEqual([e.protocol, e.field, e.offset], ['tcp', 'option.length', offset], JSON.stringify(area));
    }
  });

  it('leaves out End plus zeros that only pad to the word boundary', () => {
    const area = [2, 4, 5, 0xb4, 1, 3, 3, 6, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 4, 2, 0, 0];
    const r = parseTcpOptions(Uint8Array.from(area), 20);
    assert.ok(r.ok);
    assert.deepEqual(r.value.at(-1), { kind: 'sack-permitted' });
    assert.deepEqual(emitTcpOptions(r.value), Uint8Array.from(area));
    assert.deepEqual(tcpOptionSummary(r.value), { mss: 1460, windowScale: 6, sackPermitted: true, timestamps: { value: 1, echo: 0 }, sackBlocks: 0 });
  });

  it('keeps End and the bytes after it when they are more than emit would pad with', () => {
    const cases: [number[], TcpOption[]][] = [
      [[2, 4, 5, 0xb4, 0, 0, 0, 0], [{ kind: 'mss', value: 1460 }, { kind: 'end' }, { kind: 'padding', data: Uint8Array.from([0, 0, 0]) }]],
      [[0, 0, 0, 0], [{ kind: 'end' }, { kind: 'padding', data: Uint8Array.from([0, 0, 0]) }]],
      [[1, 0, 0xde, 0xad], [{ kind: 'nop' }, { kind: 'end' }, { kind: 'padding', data: Uint8Array.from([0xde, 0xad]) }]],
      [[1, 0, 0, 0, 0, 0, 0, 0], [{ kind: 'nop' }, { kind: 'end' }, { kind: 'padding', data: new Uint8Array(6) }]],
    ];
    for (const [area, options] of cases) {
      const r = parseTcpOptions(Uint8Array.from(area), 20);
      assert.ok(r.ok);
      assert.deepEqual(r.value, options);
      assert.deepEqual(emitTcpOptions(r.value), Uint8Array.from(area));
    }
  });

  it('re-emits exactly any area of valid options followed by End and arbitrary bytes', () => {
    const arbArea = fc
      .tuple(arbOptions, fc.boolean(), fc.uint8Array({ maxLength: 12, size: 'max' }))
      .map(([options, withEnd, tail]) => {
        const head = emitTcpOptions(options);
        const bytes = [...head.subarray(0, encodedLength(options))];
        if (withEnd) bytes.push(0, ...tail);
        while (bytes.length % 4) bytes.push(0);
        return Uint8Array.from(bytes.slice(0, 40));
      })
      .filter((area) => area.length <= 40);
    fc.assert(
      fc.property(arbArea, (area) => {
        const r = parseTcpOptions(area, 20);
        if (!r.ok) {
          // Only a tail cut at 40 bytes can break an option.
          assert.equal(area.length, 40);
          return;
        }
        assert.deepEqual(emitTcpOptions(r.value), area);
        const again = parseTcpOptions(emitTcpOptions(r.value), 20);
        assert.ok(again.ok);
        assert.deepEqual(again.value, r.value);
      }),
      { numRuns: 1000 },
    );
  });

  it('finds the first MSS without the list, and calls malformed exactly the areas parse refuses', () => {
    const expected = (area: Uint8Array): number => {
      const r = parseTcpOptions(area, 20);
      if (!r.ok) return MALFORMED_TCP_OPTIONS;
      for (const o of r.value) if (o.kind === 'mss') return o.value;
      return NO_MSS_OPTION;
    };
    // Valid areas (an MSS among other options, maybe twice) and arbitrary bytes, which are mostly malformed.
    const arbArea = fc.oneof(
      fc.array(arbOption, { maxLength: 8 }).chain((list) => {
        // Lists too long for the 40-byte area: the longest prefix that fits.
        for (let n = list.length; n > 0; n--) {
          try {
            return fc.constant(emitTcpOptions(list.slice(0, n)));
          } catch {
            continue;
          }
        }
        return fc.constant(new Uint8Array(0));
      }),
      fc.uint8Array({ maxLength: 40, size: 'max' }),
      fc.array(fc.constantFrom(0, 1, 2, 3, 4, 5, 8, 10, 18, 255), { maxLength: 40, size: 'max' }).map((a) => Uint8Array.from(a)),
    );
    fc.assert(
      fc.property(arbArea, fc.uint8Array({ maxLength: 4 }), fc.uint8Array({ maxLength: 4 }), (area, before, after) => {
        assert.equal(scanTcpOptionsMss(area), expected(area));
        // Within a larger buffer: bytes outside [start, end) are not read.
        const wide = Uint8Array.from([...before, ...area, ...after]);
        assert.equal(scanTcpOptionsMss(wide, before.length, before.length + area.length), expected(area));
      }),
      { numRuns: 3000 },
    );
    assert.equal(scanTcpOptionsMss(Uint8Array.from([1, 2, 4, 0x05, 0xb4, 2, 4, 0x04, 0xd8])), 1460, 'the first of two');
    assert.equal(scanTcpOptionsMss(Uint8Array.from([2, 4, 0x05])), MALFORMED_TCP_OPTIONS, 'cut MSS');
  });

  it('counts SACK blocks and keeps the first MSS in the summary', () => {
    const s = tcpOptionSummary([
      { kind: 'mss', value: 1400 },
      { kind: 'mss', value: 9000 },
      { kind: 'sack', blocks: [{ left: 1, right: 2 }, { left: 5, right: 9 }] },
      { kind: 'sack', blocks: [{ left: 10, right: 20 }] },
    ]);
    assert.deepEqual(s, { mss: 1400, sackPermitted: false, sackBlocks: 3 });
  });

  it('refuses option lists that would not parse back', () => {
    const bad: TcpOption[][] = [
      [{ kind: 'end' }, { kind: 'nop' }],
      [{ kind: 'padding', data: new Uint8Array(3) }],
      [{ kind: 'end' }, { kind: 'padding', data: new Uint8Array(1) }, { kind: 'padding', data: new Uint8Array(2) }],
      [{ kind: 'unknown', type: 2, data: Uint8Array.from([5, 0xb4]) }],
      [{ kind: 'sack', blocks: [] }],
      Array.from({ length: 5 }, (): TcpOption => ({ kind: 'timestamps', value: 0, echo: 0 })),
    ];
    for (const options of bad) assert.throws(() => emitTcpOptions(options), RangeError, JSON.stringify(options));
  });
});
