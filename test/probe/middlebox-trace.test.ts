import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MiddleboxTrace } from '../../src/probe/middlebox-trace.js';
import { synAck, TCP_FLOW4 } from './middlebox-packets.js';
import { runSimulatedPath } from './middlebox-path.js';

const R = ['10.0.1.1', '10.0.2.1', '10.0.3.1'];

function ttlOf(packet: Uint8Array): number {
  return packet[8]!;
}

describe('middlebox trace probing', () => {
  it('sends a window of 4 TTLs at once, then one more TTL per answer until the destination answers; hops past it are left out of the result', () => {
    const run = runSimulatedPath(TCP_FLOW4, R.map((address) => ({ address })));
    assert.deepEqual(run.sent.map(ttlOf), [1, 2, 3, 4, 5, 6, 7]);
    assert.equal(run.result.end, 'destination');
    assert.equal(run.result.destinationHop, 4);
    assert.deepEqual(run.result.hops.map((h) => h.replies.map((r) => r.kind)), [['time-exceeded'], ['time-exceeded'], ['time-exceeded'], ['syn-ack']]);
    assert.deepEqual(run.result.hops.map((h) => h.replies[0]!.rttMs), [2, 4, 6, 8]);
  });

  it('every probe is the same SYN but for TTL, probe number and checksums: MSS 1460, SACK-permitted, timestamps, window scale 7, DSCP 10, ECT(0)', () => {
    const run = runSimulatedPath(TCP_FLOW4, R.map((address) => ({ address })));
    const p = run.sent[0]!;
    assert.equal(p.length, 60);
    assert.equal(p[1], (10 << 2) | 2);
    assert.deepEqual([...p.subarray(40, 60)], [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]);
  });

  it('a silent hop is tried triesPerHop times, one reply timeout apart, and the trace goes on past it', () => {
    const run = runSimulatedPath(TCP_FLOW4, [{ address: R[0]! }, { address: R[1]!, silent: true }, { address: R[2]! }], { triesPerHop: 3, replyTimeoutMs: 1000 });
    assert.deepEqual(run.result.hops.map((h) => [h.hop, h.probesSent, h.replies.length]), [[1, 1, 1], [2, 3, 0], [3, 1, 1], [4, 1, 1]]);
    assert.equal(run.result.end, 'destination');
    assert.equal(run.result.durationMs, 3000);
  });

  it('a destination that never answers ends the trace at maxHops, within the time limit', () => {
    const run = runSimulatedPath(TCP_FLOW4, [{ address: R[0]! }], { maxHops: 5, triesPerHop: 2, replyTimeoutMs: 500 }, false);
    assert.equal(run.result.end, 'max-hops');
    assert.equal(run.result.hops.length, 5);
    assert.equal(run.result.probesSent, 1 + 4 * 2);
  });

  it('the time limit ends a trace that would run longer, with what was measured so far', () => {
    const run = runSimulatedPath(TCP_FLOW4, [{ address: R[0]! }], { maxHops: 30, triesPerHop: 3, replyTimeoutMs: 1000, timeLimitMs: 2500 }, false);
    assert.equal(run.result.end, 'time-limit');
    assert.equal(run.result.durationMs, 2500);
    assert.equal(run.result.hops[0]!.replies.length, 1);
  });

  it('an answer to none of its probes (another acknowledgment number) is ignored', () => {
    let now = 0;
    const trace = new MiddleboxTrace({ family: 4, source: TCP_FLOW4.source, address: TCP_FLOW4.destination }, { srcPort: TCP_FLOW4.srcPort, maxHops: 1 }, () => undefined, () => now);
    trace.start();
    trace.onPacket(synAck(TCP_FLOW4, 77, 1));
    assert.equal(trace.finished, false);
    trace.onPacket(synAck(TCP_FLOW4, 1, 2));
    assert.equal(trace.finished, true);
    now = 3;
    assert.equal(trace.result().destinationHop, 1);
  });
});
