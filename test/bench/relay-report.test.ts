import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RelayDelays } from '../../bench/relay-delay.js';
import { MIN_LATENCY_SAMPLES, relayTargets, type LatencyPhase, type RelayRun, type ThroughputPhase } from '../../bench/relay-report.js';

function delays(sampleMs: number, n: number, copies: number, over: Partial<RelayDelays> = {}): RelayDelays {
  return {
    delaysMs: Array.from({ length: n * copies }, () => sampleMs),
    arrivals: n,
    departures: n * copies,
    unmatched: 0,
    unanswered: 0,
    repeatedArrivals: 0,
    copiesPerMessage: { [copies]: n },
    departuresByInterface: { 3: n * copies },
    reentered: 0,
    ...over,
  };
}

function latency(name: string, sampleMs: number, copies: number, over: Partial<LatencyPhase> = {}, n = 2200): LatencyPhase {
  return { name, expectedCopies: copies, flood: { sent: n, errors: 0, seconds: n / 200 }, delays: delays(sampleMs, n, copies), droppedByKernel: 0, ...over };
}

function throughput(method: 'owner' | 'fallback', relayed: number, offered = 60_000, where: 'queue' | 'kernel' = 'queue'): ThroughputPhase {
  const queued = where === 'queue' ? relayed * 4 : 0;
  return {
    method,
    flood: { sent: offered * 5.5, errors: 0, seconds: 5.5 },
    seconds: 4,
    arrived: offered * 4,
    handled: queued,
    ...(where === 'kernel' ? { inKernel: relayed * 4 } : {}),
    relay: { messages: queued, inKernel: relayed * 4 - queued, kernelCopies: 0, owner: method === 'owner' ? relayed * 4 : 0, fallback: method === 'fallback' ? relayed * 4 : 0, copies: 0, ignored: {} },
    queueDropped: 0,
    userDropped: 0,
    waitingChange: 0,
    thread: { wallMs: 4000, cpuMs: 3000, waitMs: 0 },
  };
}

function run(over: Partial<RelayRun> = {}): RelayRun {
  return {
    relayArgs: ['relay'],
    steering: 'steering in the kernel (tc BPF) on eth1',
    raised: [],
    throughput: [throughput('owner', 55_000), throughput('fallback', 51_000)],
    kernel: latency('kernel', 0.02, 1),
    floor: latency('floor', 0.05, 1),
    owner: latency('owner', 0.15, 1),
    fallback: latency('fallback', 0.2, 2),
    logLines: 0,
    summaryMessages: 0,
    ...over,
  };
}

const failed = (r: RelayRun): string[] => relayTargets(r).filter((t) => !t.ok).map((t) => `${t.name} ${t.value}`);

describe('bench/relay targets', () => {
  it('are met when both methods relay 50,000 a second and their p99 is within 10x the kernel\'s, from enough samples', () => {
    assert.deepEqual(failed(run()), []);
    assert.equal(relayTargets(run()).length, 4);
  });

  it('count what the kernel steering relayed (never queued), and are missed when nothing was relayed at all', () => {
    assert.deepEqual(failed(run({ throughput: [throughput('owner', 55_000, 60_000, 'kernel'), throughput('fallback', 51_000, 60_000, 'kernel')] })), []);
    const none = failed(run({ throughput: [throughput('owner', 0, 60_000, 'kernel'), throughput('fallback', 51_000, 60_000, 'kernel')] }));
    assert.equal(none.length, 1);
    assert.match(none[0]!, /owner.*the relay handled no message/);
  });

  it('are not set for the floor program, however slow it is', () => {
    const floor = { ...throughput('owner', 20_000), method: 'floor' as const, relay: undefined };
    const r = run({ throughput: [floor, throughput('owner', 55_000), throughput('fallback', 51_000)], floor: latency('floor', 5, 1, {}, 10) });
    assert.deepEqual(failed(r), []);
    assert.equal(relayTargets(r).length, 4);
  });

  it('are missed below 50,000 relayed a second, naming a sender that offered too few', () => {
    const slow = failed(run({ throughput: [throughput('owner', 49_999), throughput('fallback', 45_000, 45_000)] }));
    assert.equal(slow.length, 2);
    assert.match(slow[0]!, /owner.*49,999\/s.*below the target/);
    assert.match(slow[1]!, /fallback.*the sender offered only 45,000\/s/);
  });

  it('are missed when a p99 is more than 10x the kernel\'s', () => {
    const r = failed(run({ owner: latency('owner', 0.21, 1) }));
    assert.equal(r.length, 1);
    assert.match(r[0]!, /owner.*ratio 10\.5: above 10x/);
  });

  it('are missed on too few samples, even with a good ratio, and so is every relay phase when the kernel\'s are too few', () => {
    const few = MIN_LATENCY_SAMPLES - 1;
    assert.match(failed(run({ fallback: latency('fallback', 0.1, 1, {}, few) }))[0]!, /1999 samples, fewer than 2000/);
    assert.equal(failed(run({ kernel: latency('kernel', 0.02, 1, {}, few) })).length, 2);
  });

  it('are missed when a message never left, left too often or not as expected, or tcpdump lost packets', () => {
    const unanswered = latency('owner', 0.1, 1, { delays: delays(0.1, 2200, 1, { unanswered: 3, copiesPerMessage: { 0: 3, 1: 2197 } }) });
    assert.match(failed(run({ owner: unanswered }))[0]!, /3 messages never left/);
    const once = latency('fallback', 0.1, 2, { delays: delays(0.1, 2200, 1) });
    assert.match(failed(run({ fallback: once }))[0]!, /other than 2 times: 2200 left 1 times/);
    assert.match(failed(run({ owner: latency('owner', 0.1, 1, { droppedByKernel: 12 }) }))[0]!, /tcpdump lost 12 packets/);
    assert.match(failed(run({ owner: latency('owner', 0.1, 1, { droppedByKernel: Number.NaN }) }))[0]!, /an unknown number of/);
  });
});
