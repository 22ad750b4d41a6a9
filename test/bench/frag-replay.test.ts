/**
 * bench/frag's check on what the reassembler hands back: a replay must fail when a datagram comes out with wrong
 * bytes, a wrong length or not at all, and pass with the real reassembler.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Order, type Reassembling, replayPasses } from '../../bench/frag-replay.js';
import { Reassembler, type ReassemblyOutcome } from '../../src/frag/reassembler.js';
import { evenCuts, v4Datagram, v4Split, v6Datagram, v6Split } from '../frag/fragment-builders.js';

function pool(): { order: Order; wholes: Uint8Array[] } {
  const fragments: Uint8Array[] = [];
  const owner: number[] = [];
  const wholes: Uint8Array[] = [];
  for (let i = 0; i < 6; i++) {
    const payload = new Uint8Array(3000 + 100 * i).map((_, j) => (j * 7 + i) & 0xff);
    const v4 = { src: '10.0.0.1', dst: '10.0.0.2', ident: 100 + i };
    const v6 = { src: 'fd00::1', dst: 'fd00::2', ident: 100 + i };
    const parts = i % 2 === 0 ? v4Split(v4, payload, evenCuts(payload.length, 1480)) : v6Split(v6, payload, evenCuts(payload.length, 1448));
    wholes.push(i % 2 === 0 ? v4Datagram(v4, payload) : v6Datagram(v6, payload));
    for (const f of parts) {
      fragments.push(f);
      owner.push(i);
    }
  }
  return { order: { fragments, owner }, wholes };
}

/** The real reassembler, with its answer for the `nth` completed datagram changed by `change`. */
function faulty(nth: number, change: (o: Extract<ReassemblyOutcome, { status: 'complete' }>) => ReassemblyOutcome): Reassembling {
  const r = new Reassembler();
  let completed = 0;
  return {
    push(packet, now) {
      const o = r.push(packet, now);
      return o.status === 'complete' && ++completed === nth ? change(o) : o;
    },
  };
}

describe('bench/frag replay check', () => {
  it('passes when every datagram of every pass comes out exactly', () => {
    const { order, wholes } = pool();
    const { completed } = replayPasses('t', order, wholes, 3, new Reassembler(), { compareBytes: true });
    assert.equal(completed, 18);
  });

  it('fails on one flipped byte when comparing bytes, and names the datagram and pass', () => {
    const { order, wholes } = pool();
    const flipped = faulty(8, (o) => {
      const datagram = o.datagram.slice();
      datagram[datagram.length - 1]! ^= 1;
      return { ...o, datagram };
    });
    assert.throws(() => replayPasses('t', order, wholes, 3, flipped, { compareBytes: true }), /datagram 1 of pass 1 came out wrong/);
  });

  it('fails on a wrong length or a missing datagram even in the timed run, which compares no bytes', () => {
    const { order, wholes } = pool();
    const short = faulty(2, (o) => ({ ...o, datagram: o.datagram.subarray(1) }));
    assert.throws(() => replayPasses('t', order, wholes, 2, short, { compareBytes: false }), /12 datagrams of \d+ bytes completed, expected 12 of/);
    const lost = faulty(5, () => ({ status: 'pending' }));
    assert.throws(() => replayPasses('t', order, wholes, 2, lost, { compareBytes: false }), /11 datagrams of \d+ bytes completed, expected 12/);
  });
});
