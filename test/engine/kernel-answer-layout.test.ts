/**
 * The bytes the engine writes to and reads from the kernel answer's maps: the offsets of kernel-answer-layout.ts
 * against the compiled BPF object's own BTF as pahole shows it (the program's structs and enum), and the encodings
 * field by field.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { answerCounts, answerSettings, KERNEL_ANSWER_OUTCOMES, SETTINGS, TEST_KEY, TEST_VALUE, testKey } from '../../src/engine/kernel-answer-layout.js';
import { layoutMismatches, membersAndLayoutFields, nativeObject, pahole as paholeOf } from '../support/pahole.js';

const OBJECT = nativeObject('mtuscope-bpf', 'ptb_answer.bpf.o');
const pahole = (name: string): ReturnType<typeof paholeOf> => paholeOf(OBJECT, name);

describe('kernel answer map layout', () => {
  it('every offset the engine uses is the compiled program\'s own (pahole over its BTF)', { skip: existsSync(OBJECT) ? false : `${OBJECT} is not built` }, () => {
    for (const [struct, layout] of [
      ['test_key', TEST_KEY],
      ['test_value', TEST_VALUE],
      ['settings', SETTINGS],
    ] as const) {
      assert.deepEqual(layoutMismatches(OBJECT, struct, layout), []);
    }
    // Fields the engine leaves alone still must not overlap what it writes: all of settings is written.
    const [members, written] = membersAndLayoutFields(OBJECT, 'settings', SETTINGS);
    assert.deepEqual(members, written);
    // The binding writes an opening as three 32-bit words: the client's ISN, then the server's (not seen yet).
    const opening = pahole('opening');
    assert.deepEqual([opening.size, opening.members.get('client_isn')?.offset, opening.members.get('server_isn_seen')?.offset], [12, 0, 8]);
    const outcomes = pahole('outcome').enumerators;
    assert.deepEqual(outcomes.slice(0, -1), ['ANSWERED', 'HELD_BACK', 'LEFT_SHORT', 'LEFT_FAILED']);
    assert.equal(outcomes.length - 1, KERNEL_ANSWER_OUTCOMES.length);
  });

  it('a key holds family, addresses and ports as the packet carries them', () => {
    const k4 = testKey({ family: 4, clientAddress: '10.0.1.1', clientPort: 0x1234, serverAddress: '10.0.2.2', serverPort: 8080 });
    assert.deepEqual(
      [...(k4 ?? [])],
      [4, 0, 0, 0, 10, 0, 1, 1, ...Array(12).fill(0), 10, 0, 2, 2, ...Array(12).fill(0), 0x12, 0x34, 0x1f, 0x90],
    );
    // A dual-stack socket's view of an IPv4 peer is the same IPv4 connection.
    assert.deepEqual(testKey({ family: 4, clientAddress: '::ffff:10.0.1.1', clientPort: 0x1234, serverAddress: '::ffff:10.0.2.2', serverPort: 8080 }), k4);
    const k6 = testKey({ family: 6, clientAddress: 'fd00::1:1', clientPort: 1, serverAddress: 'fd00::2:2', serverPort: 2 });
    assert.equal(k6?.[0], 6);
    assert.deepEqual([...(k6?.subarray(4, 20) ?? [])], [0xfd, 0, ...Array(10).fill(0), 0, 1, 0, 1]);
    assert.deepEqual([...(k6?.subarray(36) ?? [])], [0, 1, 0, 2]);
    // Addresses of the other family, or no address: no key.
    assert.equal(testKey({ family: 4, clientAddress: 'fd00::1', clientPort: 1, serverAddress: '10.0.0.1', serverPort: 2 }), undefined);
    assert.equal(testKey({ family: 6, clientAddress: '10.0.0.1', clientPort: 1, serverAddress: 'fd00::1', serverPort: 2 }), undefined);
    assert.equal(testKey({ family: 4, clientAddress: 'nonsense', clientPort: 1, serverAddress: '10.0.0.1', serverPort: 2 }), undefined);
  });

  it('settings field by field, and the counts of a value', () => {
    const s = answerSettings({
      answeredMark: 0x6d75,
      heldBackMark: 0x6d76,
      port: 8080,
      icmpWindowMs: 10_000,
      icmpRate: { perClient: { perSecond: 50, burst: 100 }, global: { perSecond: 5000, burst: 10_000 } },
      ipv6ClientPrefix: 64,
      icmpMtu: { 4: 905, 6: 1280 },
    });
    const v = new DataView(s.buffer);
    assert.deepEqual(
      [
        v.getUint32(0, true),
        v.getUint32(4, true),
        v.getBigUint64(8, true),
        v.getBigUint64(16, true),
        v.getBigUint64(24, true),
        v.getBigUint64(32, true),
        v.getBigUint64(40, true),
        v.getUint32(48, true),
        v.getUint16(52),
        v.getUint32(56, true),
        v.getUint32(60, true),
      ],
      [0x6d75, 0x6d76, 10_000_000_000n, 50n, 100n, 5000n, 10_000n, 64, 8080, 905, 1280],
    );
    const value = new Uint8Array(TEST_VALUE.size);
    const view = new DataView(value.buffer);
    view.setUint32(16, 3, true);
    view.setUint32(20, 7, true);
    view.setUint32(24, 10, true);
    for (let i = 0; i < 16; i++) view.setUint32(28 + 4 * i, 0xffff_ff00 + i, true);
    assert.deepEqual(answerCounts(value), { answered: 3, heldBack: 7, decisions: 10, starts: Array.from({ length: 16 }, (_, i) => 0xffff_ff00 + i) });
    assert.equal(answerCounts(value.subarray(0, 20)), undefined);
  });
});
