/**
 * The bytes the relay writes to and reads from the kernel steering's maps: the offsets of relay-kernel-layout.ts
 * against the compiled BPF object's own BTF as pahole shows it, the counters' order against its enum, and the
 * encodings field by field.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseCidrOrAddress } from '../../src/packet/cidr.js';
import {
  parseSteerEvent,
  peerSet,
  SERVED_KEY,
  servedKey,
  STEER_COUNTERS,
  STEER_EVENT,
  STEER_PEER,
  STEER_SETTINGS,
  steerPeer,
  steerSettings,
} from '../../src/relay/relay-kernel-layout.js';
import { layoutMismatches, membersAndLayoutFields, nativeObject, pahole } from '../support/pahole.js';

const OBJECT = nativeObject('mtuscope-bpf', 'relay_steer.bpf.o');

describe('relay kernel steering map layout', () => {
  it('every offset the relay uses is the compiled program\'s own (pahole over its BTF), the counters in its order', { skip: existsSync(OBJECT) ? false : `${OBJECT} is not built` }, () => {
    for (const [struct, layout] of [
      ['settings', STEER_SETTINGS],
      ['served_key', SERVED_KEY],
      ['event', STEER_EVENT],
      ['peer', STEER_PEER],
    ] as const) {
      assert.deepEqual(layoutMismatches(OBJECT, struct, layout), []);
    }
    // All of settings is written.
    const [members, written] = membersAndLayoutFields(OBJECT, 'settings', STEER_SETTINGS);
    assert.deepEqual(members, written);
    const counters = pahole(OBJECT, 'counter').enumerators;
    assert.deepEqual(counters.slice(0, -1), ['RELAYED_OWNER', 'RELAYED_UNKNOWN', 'RELAYED_SHARED', 'COPIES', 'LIMITED', 'LEFT_TO_USER_SPACE', 'EVENTS_LOST', 'COPIES_FAILED', 'COPIES_FORWARDED']);
    assert.equal(counters.length - 1, STEER_COUNTERS.length);
  });

  it('settings field by field', () => {
    const s = steerSettings({
      relayedDscp: 7,
      maxMtu: { 4: 1500, 6: 9000 },
      limits: { perRouter: { perSecond: 200, burst: 400 }, perFlow: { perSecond: 4, burst: 8 }, total: { perSecond: 20_000, burst: 40_000 }, dedupMs: 1000, maxKeys: 65536 },
      peers: { 4: [0, 2], 6: [1, 64, 126] },
      seeds: [0xdeadbeef, 0x01020304],
    });
    const v = new DataView(s.buffer);
    assert.equal(s.length, STEER_SETTINGS.size);
    assert.deepEqual(
      [v.getUint32(0, true), v.getUint32(4, true), v.getUint32(8, true), v.getUint32(12, true), v.getUint32(16, true)],
      [7, 1500, 9000, 0xdeadbeef, 0x01020304],
    );
    assert.equal(v.getBigUint64(STEER_SETTINGS.dedup_ns, true), 1_000_000_000n);
    const rates = ['router_rate', 'router_burst', 'flow_rate', 'flow_burst', 'total_rate', 'total_burst'] as const;
    assert.deepEqual(rates.map((f) => v.getBigUint64(STEER_SETTINGS[f], true)), [200n, 400n, 4n, 8n, 20_000n, 40_000n]);
    // Bit i of two little-endian 64-bit words.
    assert.deepEqual([v.getBigUint64(STEER_SETTINGS.peers4, true), v.getBigUint64(STEER_SETTINGS.peers4 + 8, true)], [0b101n, 0n]);
    assert.deepEqual([v.getBigUint64(STEER_SETTINGS.peers6, true), v.getBigUint64(STEER_SETTINGS.peers6 + 8, true)], [0b10n, 1n | (1n << 62n)]);
  });

  it('refuses a peer index the program cannot name', () => {
    assert.throws(() => peerSet([127]), /peer index 127/);
    assert.throws(() => peerSet([-1]), /peer index -1/);
    assert.throws(() => peerSet([1.5]), /peer index 1.5/);
  });

  it('a served prefix as the LPM trie\'s key: its length (host order), then the address', () => {
    const k4 = servedKey(parseCidrOrAddress('10.99.0.0/16')!);
    assert.deepEqual([...k4], [16, 0, 0, 0, 10, 99, 0, 0, ...Array(12).fill(0)]);
    const k6 = servedKey(parseCidrOrAddress('fd00:99::1')!);
    assert.deepEqual([...k6.subarray(0, 6)], [128, 0, 0, 0, 0xfd, 0]);
    assert.deepEqual([...k6.subarray(18)], [0, 1]);
  });

  it('reads an event as the program writes it, and refuses one it never writes', () => {
    const r = new Uint8Array(STEER_EVENT.size);
    const v = new DataView(r.buffer);
    r[STEER_EVENT.family] = 4;
    r[STEER_EVENT.method] = 2;
    r[STEER_EVENT.protocol] = 6;
    r[STEER_EVENT.index] = 3;
    v.setUint32(STEER_EVENT.mtu, 1400, true);
    v.setUint16(STEER_EVENT.served_port, 443, false);
    v.setUint16(STEER_EVENT.peer_port, 51_000, false);
    v.setUint32(STEER_EVENT.copies, 2, true);
    r.set([10, 0, 2, 1], STEER_EVENT.router);
    r.set([10, 99, 0, 1], STEER_EVENT.served);
    r.set([10, 0, 1, 1], STEER_EVENT.peer);
    assert.deepEqual(parseSteerEvent(r), {
      family: 4,
      method: 'shared-interface',
      index: 3,
      copies: 2,
      mtu: 1400,
      protocol: 6,
      router: '10.0.2.1',
      served: '10.99.0.1',
      servedPort: 443,
      peer: '10.0.1.1',
      peerPort: 51_000,
    });
    r[STEER_EVENT.family] = 6;
    r.set([0xfd, 0, 0, 0x99, ...Array(11).fill(0), 1], STEER_EVENT.served);
    assert.equal(parseSteerEvent(r)?.served, 'fd00:99::1');
    assert.equal(parseSteerEvent(r.subarray(1)), undefined, 'another size');
    r[STEER_EVENT.family] = 5;
    assert.equal(parseSteerEvent(r), undefined, 'no such family');
    r[STEER_EVENT.family] = 4;
    r[STEER_EVENT.method] = 3;
    assert.equal(parseSteerEvent(r), undefined, 'no such method');
  });

  it('a peer\'s entry: its family, then its address as the packet carries it', () => {
    assert.deepEqual([...steerPeer(4, new Uint8Array([10, 0, 3, 2]))], [4, 0, 0, 0, 10, 0, 3, 2, ...Array(12).fill(0)]);
    const p6 = steerPeer(6, new Uint8Array([0xfd, ...Array(14).fill(0), 2]));
    assert.deepEqual([p6[0], p6[4], p6[19]], [6, 0xfd, 2]);
    assert.throws(() => steerPeer(4, new Uint8Array(16)), /IPv4 address has 4 bytes, not 16/);
  });
});
