import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { arrayKey, namedCounts, ringRecords } from '../../src/host/bpf-object.js';
import { STEER_COUNTERS } from '../../src/relay/relay-kernel-layout.js';

/** What the binding's consume() returns: each record's length (4 bytes, host order), then the record padded to 4. */
function drained(...records: Uint8Array[]): Uint8Array {
  const parts: number[] = [];
  for (const r of records) {
    const length = new Uint8Array(new Uint32Array([r.length]).buffer);
    parts.push(...length, ...r, ...Array((4 - (r.length % 4)) % 4).fill(0xee));
  }
  return new Uint8Array(parts);
}

describe('ringRecords', () => {
  it('hands back each record as it was, skipping the padding after one of odd length', () => {
    const a = new Uint8Array([1, 2, 3, 4, 5]);
    const b = new Uint8Array(72).fill(9);
    const c = new Uint8Array([7]);
    assert.deepEqual([...ringRecords(drained(a, b, c))].map((r) => [...r]), [[...a], [...b], [...c]]);
    assert.deepEqual([...ringRecords(new Uint8Array(0))], []);
  });

  it('stops at a record that claims more bytes than there are, or a length cut short', () => {
    const whole = drained(new Uint8Array([1, 2, 3, 4]), new Uint8Array(8).fill(5));
    assert.deepEqual([...ringRecords(whole.subarray(0, whole.length - 1))].map((r) => r.length), [4]);
    assert.deepEqual([...ringRecords(whole.subarray(0, 10))].map((r) => r.length), [4]);
  });
});

describe('namedCounts', () => {
  it('names the counters in the program\'s order, zero where the map gave fewer', () => {
    assert.deepEqual(namedCounts(STEER_COUNTERS, [1, 2, 3]), {
      relayedOwner: 1,
      relayedOwnerUnknown: 2,
      relayedSharedInterface: 3,
      copies: 0,
      limited: 0,
      leftToUserSpace: 0,
      eventsLost: 0,
      copiesFailed: 0,
      copiesForwarded: 0,
    });
  });
});

describe('arrayKey', () => {
  it('is the index as the kernel reads an array map\'s key: 32 bits in host order', () => {
    const key = arrayKey(0x0102_0304);
    assert.equal(key.length, 4);
    assert.equal(new Uint32Array(key.buffer)[0], 0x0102_0304);
    assert.deepEqual([...arrayKey(0)], [0, 0, 0, 0]);
  });
});
