import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { CapturedPacket } from '../../src/capture/captured-packet.js';
import { PcapEncoder } from '../../src/capture/pcap-encoder.js';
import { PcapngEncoder } from '../../src/capture/pcapng-encoder.js';
import { arbLinkType, arbPacket, encodeFile, readAll, splitStream } from './support/capture-fixtures.js';

function expected(
  p: { timestampNs: bigint; data: Uint8Array; originalLength: number },
  linkType: number,
  interfaceId: number,
  snaplen: number,
  timestampNs: bigint,
  interfaceName?: string,
): CapturedPacket {
  const data = snaplen !== 0 && p.data.length > snaplen ? p.data.subarray(0, snaplen) : p.data;
  // timeUs from the BigInt, whichever way the parser computed it.
  return { linkType, interfaceId, timestampNs, timeUs: Number(timestampNs / 1000n), capturedLength: data.length, originalLength: p.originalLength, data, interfaceName };
}

/** Chunk sizes: mostly tiny so that every header and record straddles chunks somewhere. */
const arbCuts = fc.array(fc.oneof(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 8, max: 5000 })), { minLength: 1, maxLength: 20, size: 'max' });

describe('capture round trip', () => {
  for (const nanoseconds of [false, true]) {
    for (const littleEndian of [true, false]) {
      it(`pcap ${nanoseconds ? 'ns' : 'µs'} ${littleEndian ? 'LE' : 'BE'}: reads back what the encoder wrote`, async () => {
        await fc.assert(
          fc.asyncProperty(
            arbLinkType,
            fc.oneof(fc.constant(262144), fc.integer({ min: 1, max: 400 })),
            fc.array(arbPacket(1), { maxLength: 30, size: 'max' }),
            arbCuts,
            async (linkType, snaplen, packets, cuts) => {
              const encoder = new PcapEncoder({ linkType, snaplen, nanoseconds, littleEndian });
              const bytes = encodeFile(encoder, packets);
              const got = await readAll(splitStream(bytes, cuts));
              assert.equal(got.error, undefined);
              assert.deepEqual(
                got.packets,
                packets.map((p) => expected(p, linkType, 0, snaplen, encoder.roundTimestamp(p.timestampNs))),
              );
            },
          ),
          { numRuns: 150 },
        );
      });
    }
  }

  for (const several of [false, true]) {
    for (const littleEndian of [true, false]) {
      for (const tsresol of [6, 9]) {
        it(`pcapng ${several ? 'several interfaces' : 'one interface'} ${littleEndian ? 'LE' : 'BE'} tsresol ${tsresol}: reads back what the encoder wrote`, async () => {
          const arbInterfaces = fc.array(
            fc.record(
              {
                linkType: arbLinkType,
                snaplen: fc.oneof(fc.constant(0), fc.constant(262144), fc.integer({ min: 1, max: 400 })),
                // With several interfaces, mix resolutions (the tested one first) so each is applied per interface.
                tsresol: several ? fc.constantFrom(tsresol, 6, 9, 3, 0) : fc.constant(tsresol),
                name: fc.option(fc.string({ maxLength: 12, size: 'max' }), { nil: undefined }),
              },
              { noNullPrototype: true, requiredKeys: ['linkType', 'snaplen', 'tsresol'] },
            ),
            { minLength: several ? 2 : 1, maxLength: several ? 5 : 1 },
          );
          await fc.assert(
            fc.asyncProperty(
              arbInterfaces.chain((interfaces) =>
                fc.tuple(fc.constant(interfaces), fc.array(arbPacket(interfaces.length, 2 ** 34), { maxLength: 30, size: 'max' })),
              ),
              arbCuts,
              async ([interfaces, packets], cuts) => {
                const encoder = new PcapngEncoder({ interfaces, littleEndian });
                const bytes = encodeFile(encoder, packets);
                const got = await readAll(splitStream(bytes, cuts));
                assert.equal(got.error, undefined);
                assert.deepEqual(
                  got.packets,
                  packets.map((p) => {
                    const iface = interfaces[p.interfaceId]!;
                    return expected(p, iface.linkType, p.interfaceId, iface.snaplen, encoder.roundTimestamp(p.timestampNs, p.interfaceId), iface.name);
                  }),
                );
              },
            ),
            { numRuns: 150 },
          );
        });
      }
    }
  }

  it('rounds timestamps down to the format resolution', () => {
    const ns = 1_700_000_000_123_456_789n;
    assert.equal(new PcapEncoder({ linkType: 1 }).roundTimestamp(ns), 1_700_000_000_123_456_000n);
    assert.equal(new PcapEncoder({ linkType: 1, nanoseconds: true }).roundTimestamp(ns), ns);
    const ng = new PcapngEncoder({ interfaces: [{ linkType: 1 }, { linkType: 1, tsresol: 9 }, { linkType: 1, tsresol: 0 }] });
    assert.deepEqual([0, 1, 2].map((i) => ng.roundTimestamp(ns, i)), [1_700_000_000_123_456_000n, ns, 1_700_000_000_000_000_000n]);
  });

  it('encodes into a dirty buffer exactly as into a fresh one (padding is written, not assumed)', () => {
    for (const encoder of [new PcapEncoder({ linkType: 1 }), new PcapngEncoder({ interfaces: [{ linkType: 1 }] })]) {
      for (let n = 0; n < 8; n++) {
        const packet = { timestampNs: 123_456_789_012n, data: new Uint8Array(n).fill(0x5a) };
        const dirty = new Uint8Array(encoder.encodedLength(packet) + 3).fill(0xff);
        assert.equal(encoder.encodePacket(packet, dirty, 3), dirty.length);
        assert.deepEqual(dirty.subarray(3), encoder.encode(packet));
        assert.deepEqual(dirty.subarray(0, 3), Uint8Array.of(0xff, 0xff, 0xff));
      }
    }
  });

  it('rejects packets the format cannot hold with RangeError', () => {
    const pcap = new PcapEncoder({ linkType: 1 });
    const data = new Uint8Array(4);
    assert.throws(() => pcap.encode({ timestampNs: -1n, data }), RangeError);
    assert.throws(() => pcap.encode({ timestampNs: 2n ** 32n * 1_000_000_000n, data }), RangeError);
    assert.throws(() => pcap.encode({ timestampNs: 0n, data, linkType: 101 }), /link type 101 differs/);
    assert.throws(() => new PcapEncoder({ linkType: 70000 }), RangeError);
    const ng = new PcapngEncoder({ interfaces: [{ linkType: 1 }] });
    assert.throws(() => ng.encode({ timestampNs: 0n, data, interfaceId: 1 }), /interface id 1/);
    assert.throws(() => new PcapngEncoder({ interfaces: [] }), RangeError);
    assert.throws(() => new PcapngEncoder({ interfaces: [{ linkType: 1, tsresol: 20 }] }), RangeError);
  });
});
