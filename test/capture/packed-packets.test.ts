import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CapturedPacket, capturedPacket } from '../../src/capture/captured-packet.js';
import { packPackets, unpackPackets } from '../../src/capture/packed-packets.js';
import { prng } from '../support/prng.js';

describe('packed packets', () => {
  it('unpack to the packets that were packed: fields, bytes, interface names, timestamps to the nanosecond', () => {
    const random = prng(5);
    const names = ['eth0', 'any', 'veth-ü'];
    const packets: CapturedPacket[] = [];
    for (let i = 0; i < 2_000; i++) {
      const data = Uint8Array.from({ length: Math.floor(random() * 200) }, () => Math.floor(random() * 256));
      const timestampNs = [0n, 999_999_999n, 18_446_744_073_709_551_615n, BigInt(Math.floor(random() * 2 ** 53)) * 1_000n + BigInt(i)][i % 4]!;
      const name = i % 5 === 0 ? undefined : names[i % names.length];
      packets.push(capturedPacket(Math.floor(random() * 300), i % 7, timestampNs, data.length + (i % 3), data, name));
    }
    const packed = packPackets(packets);
    assert.equal(packed.names.length, names.length, 'each name once');
    const back = unpackPackets(packed);
    assert.equal(back.length, packets.length);
    for (let i = 0; i < packets.length; i++) assert.deepEqual(back[i], packets[i], `packet ${i}`);
  });

  it('copies the bytes, so that the reader may reuse its chunk', () => {
    const data = Uint8Array.from([1, 2, 3]);
    const packed = packPackets([capturedPacket(1, 0, 5n, 3, data)]);
    data[0] = 9;
    assert.deepEqual([...unpackPackets(packed)[0]!.data], [1, 2, 3]);
  });

  it('packs nothing into nothing', () => {
    const packed = packPackets([]);
    assert.equal(packed.count, 0);
    assert.deepEqual(unpackPackets(packed), []);
  });
});
