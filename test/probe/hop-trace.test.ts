import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { traceHops, type HopTraceResult } from '../../src/probe/hop-trace.js';
import type { ProbeFlow } from '../../src/probe/probe-packets.js';
import { FLOW4, FLOW6 } from './probe-flows.js';
import { type SimLink, type SimPath, type SimRouter, type SimSent, simulate } from './simulated-path.js';

function routers(n: number, family: 4 | 6, tweak: Record<number, Partial<SimRouter>> = {}): SimRouter[] {
  return Array.from({ length: n }, (_, i) => ({ address: family === 4 ? `10.0.${i + 1}.1` : `fd00:${i + 1}::1`, ...tweak[i + 1] }));
}

function links(n: number, tweak: Record<number, SimLink> = {}): SimLink[] {
  return Array.from({ length: n + 1 }, (_, i) => tweak[i] ?? { mtu: 1500 });
}

async function trace(flow: ProbeFlow, rs: SimRouter[], ls: SimLink[], deadlineMs = 120_000, rateLimit?: SimPath['rateLimit']): Promise<HopTraceResult> {
  const { clock, timing } = simulate({ flow, routers: rs, links: ls, ...(rateLimit === undefined ? {} : { rateLimit }) }, { deadlineMs });
  return clock.run(traceHops(timing, { ...timing.options, startSize: 1500, maxHops: 30, parallel: 8 }));
}

/** Linux's default for IPv4 (net.ipv4.icmp_ratelimit 1000 ms, a burst of 6), on every router and the destination. */
const LINUX_LIMIT = { intervalMs: 1000, burst: 6 } as const;
const FLOWS = [FLOW4, FLOW6, { ...FLOW4, protocol: 'icmp' as const }, { ...FLOW6, protocol: 'icmp' as const }, { ...FLOW4, protocol: 'tcp' as const }, { ...FLOW6, protocol: 'tcp' as const }];

describe('hop trace over a simulated path', () => {
  it('a healthy path: every hop with its router, the destination, path MTU 1500, no Packet Too Big, no black hole', async () => {
    for (const flow of [FLOW4, FLOW6, { ...FLOW4, protocol: 'icmp' as const }, { ...FLOW6, protocol: 'tcp' as const }]) {
      const r = await trace(flow, routers(4, flow.family), links(4));
      assert.equal(r.destinationHop, 5, `${flow.protocol} v${flow.family}`);
      assert.deepEqual(r.hops.map((h) => h.address), [...routers(4, flow.family).map((x) => x.address), flow.destination]);
      assert.equal(r.pathMtu, 1500);
      assert.equal(r.pathMtuFrom, 'trace');
      assert.deepEqual(r.packetTooBig, []);
      assert.deepEqual(r.blackHoles, []);
      assert.equal(r.timedOut, false);
    }
  });

  it('Packet Too Big at hops 2 and 4 are each given to the hop that sent them, and the path MTU is the smallest', async () => {
    for (const flow of [FLOW4, FLOW6]) {
      const r = await trace(flow, routers(5, flow.family), links(5, { 2: { mtu: 1480 }, 4: { mtu: 1400 } }));
      assert.deepEqual(
        r.packetTooBig.map((p) => [p.hop, p.mtu, p.probeSize]),
        [
          [2, 1480, 1500],
          [4, 1400, 1480],
        ],
      );
      assert.equal(r.hops[1]?.reportedMtu, 1480);
      assert.equal(r.hops[3]?.reportedMtu, 1400);
      assert.equal(r.hops[0]?.largestSeen, 1500);
      assert.equal(r.hops[2]?.largestSeen, 1480);
      assert.equal(r.pathMtu, 1400);
      assert.deepEqual(r.blackHoles, []);
    }
  });

  it('a router that sends no Packet Too Big: a black hole after its hop, found by the search at the right size; it fragments a DF-clear copy', async () => {
    const r = await trace(FLOW4, routers(5, 4, { 3: { sendsPtb: false } }), links(5, { 3: { mtu: 1400 } }));
    assert.deepEqual(r.packetTooBig, []);
    assert.equal(r.blackHoles.length, 1);
    assert.deepEqual(r.blackHoles[0], { size: 1500, afterHop: 3, beforeHop: 4, foundBy: 'scan', fragmentedCopyPassed: true });
    assert.equal(r.pathMtu, 1400);
    assert.equal(r.pathMtuFrom, 'search');
    assert.equal(r.search?.state, 'SEARCH_COMPLETE');
    assert.equal(r.search?.smallestFailing, 1401);
  });

  it('a silent link-MTU mismatch: the same hop, but the DF-clear copy vanishes too; IPv6 cannot send that copy', async () => {
    const r = await trace(FLOW4, routers(5, 4), links(5, { 3: { mtu: 1500, rxMtu: 1400 } }));
    assert.deepEqual(r.blackHoles[0], { size: 1500, afterHop: 3, beforeHop: 4, foundBy: 'scan', fragmentedCopyPassed: false });
    assert.equal(r.pathMtu, 1400);
    const r6 = await trace(FLOW6, routers(5, 6), links(5, { 3: { mtu: 1500, rxMtu: 1400 } }));
    assert.deepEqual(r6.blackHoles[0], { size: 1500, afterHop: 3, beforeHop: 4, foundBy: 'scan' });
    assert.equal(r6.pathMtu, 1400);
  });

  it('a Packet Too Big dropped on its way back looks, from here, like one never sent: the same black hole after hop 4', async () => {
    const r = await trace(FLOW4, routers(5, 4, { 2: { dropsForwardedPtb: true } }), links(5, { 4: { mtu: 1400 } }));
    assert.deepEqual(r.packetTooBig, []);
    assert.deepEqual(r.blackHoles[0], { size: 1500, afterHop: 4, beforeHop: 5, foundBy: 'scan', fragmentedCopyPassed: true });
    // Hop 2's own Packet Too Big is not forwarded, so it arrives.
    const own = await trace(FLOW4, routers(5, 4, { 2: { dropsForwardedPtb: true } }), links(5, { 2: { mtu: 1400 } }));
    assert.deepEqual(own.packetTooBig.map((p) => [p.hop, p.mtu]), [[2, 1400]]);
  });

  it('two black holes in series: the scan finds the first, the bisection with the smallest failing size the second', async () => {
    const r = await trace(FLOW4, routers(7, 4, { 2: { sendsPtb: false }, 5: { sendsPtb: false } }), links(7, { 2: { mtu: 1450 }, 5: { mtu: 1400 } }));
    assert.equal(r.pathMtu, 1400);
    assert.deepEqual(
      r.blackHoles.map((b) => [b.size, b.afterHop, b.beforeHop, b.foundBy]),
      [
        [1500, 2, 3, 'scan'],
        [1401, 5, 6, 'bisection'],
      ],
    );
  });

  it('an old-style "fragmentation needed" without MTU is read as the RFC 1191 plateau below the probe', async () => {
    const r = await trace(FLOW4, routers(3, 4, { 2: { oldStyle: true } }), links(3, { 2: { mtu: 1400 } }));
    assert.deepEqual(
      r.packetTooBig.map((p) => [p.hop, p.mtu, p.estimated]),
      [[2, 1492, true], [2, 1006, true]],
    );
    assert.equal(r.pathMtu, 1006);
  });

  it('a silent router keeps its hop number; the run stops at its deadline and says so', async () => {
    const r = await trace(FLOW4, routers(4, 4, { 2: { silent: true } }), links(4));
    assert.deepEqual(r.hops.map((h) => h.address), ['10.0.1.1', undefined, '10.0.3.1', '10.0.4.1', FLOW4.destination]);
    assert.equal(r.pathMtu, 1500);
    const cut = await trace(FLOW4, routers(5, 4, { 3: { sendsPtb: false } }), links(5, { 3: { mtu: 1400 } }), 800);
    assert.equal(cut.timedOut, true);
    assert.equal(cut.pathMtu, undefined);
  });
});

describe('hop trace with ICMP rate limits on every node (Linux defaults: 1 message per second after a burst of 6)', () => {
  it('a healthy path is healthy: the destination at its hop, path MTU 1500, no black hole, whatever the protocol and path length', async () => {
    for (const flow of FLOWS) {
      for (const n of [1, 3, 9]) {
        const r = await trace(flow, routers(n, flow.family), links(n), 120_000, LINUX_LIMIT);
        const what = `${flow.protocol} v${flow.family}, ${n} routers`;
        assert.equal(r.destinationHop, n + 1, what);
        assert.deepEqual(r.hops.map((h) => h.address), [...routers(n, flow.family).map((x) => x.address), flow.destination], what);
        assert.equal(r.pathMtu, 1500, what);
        assert.deepEqual(r.blackHoles, [], what);
      }
    }
  });

  it('a router that sends no Packet Too Big: the one black hole after its hop and the exact path MTU by search, whatever the protocol', async () => {
    for (const flow of FLOWS) {
      for (const [n, k] of [[3, 2], [5, 3], [10, 6]] as const) {
        const r = await trace(flow, routers(n, flow.family, { [k]: { sendsPtb: false } }), links(n, { [k]: { mtu: 1400 } }), 120_000, LINUX_LIMIT);
        const what = `${flow.protocol} v${flow.family}, black hole after hop ${k} of ${n}`;
        assert.deepEqual(r.blackHoles.map((b) => [b.size, b.afterHop, b.beforeHop, b.foundBy]), [[1500, k, k + 1, 'scan']], what);
        if (flow.family === 4) assert.equal(r.blackHoles[0]?.fragmentedCopyPassed, true, what);
        assert.equal(r.pathMtu, 1400, what);
        assert.equal(r.pathMtuFrom, 'search', what);
        assert.equal(r.search?.smallestFailing, 1401, what);
      }
    }
  });

  it('a destination that stops answering altogether after its burst: no path MTU is made up and no second black hole placed', async () => {
    const r = await trace(FLOW4, routers(3, 4, { 2: { sendsPtb: false } }), links(3, { 2: { mtu: 1400 } }), 120_000, { intervalMs: 1e9, burst: 6 });
    assert.deepEqual(r.blackHoles.map((b) => [b.afterHop, b.beforeHop]), [[2, 3]]);
    assert.equal(r.pathMtu, undefined);
    assert.notEqual(r.search?.state, 'SEARCH_COMPLETE');
    assert.ok(r.search?.probes.some((p) => p.inconclusive === true), JSON.stringify(r.search?.probes));
  });
});


describe('hop trace with one random loss: a large probe of a size that fits the path is lost once', () => {
  interface Case {
    readonly what: string;
    readonly flow: ProbeFlow;
    readonly routers: SimRouter[];
    readonly links: SimLink[];
    readonly rateLimit?: SimPath['rateLimit'];
    readonly pathMtu: number;
    readonly holes: readonly (readonly [number, number, number, string])[];
  }
  const CASES: Case[] = [
    { what: 'no Packet Too Big after hop 3 of 5, UDP IPv4', flow: FLOW4, routers: routers(5, 4, { 3: { sendsPtb: false } }), links: links(5, { 3: { mtu: 1400 } }), pathMtu: 1400, holes: [[1500, 3, 4, 'scan']] },
    { what: 'no Packet Too Big after hop 3 of 5, UDP IPv6', flow: FLOW6, routers: routers(5, 6, { 3: { sendsPtb: false } }), links: links(5, { 3: { mtu: 1400 } }), pathMtu: 1400, holes: [[1500, 3, 4, 'scan']] },
    { what: 'no Packet Too Big after hop 5 of 5 (no hop to bisect), UDP IPv4', flow: FLOW4, routers: routers(5, 4, { 5: { sendsPtb: false } }), links: links(5, { 5: { mtu: 1400 } }), pathMtu: 1400, holes: [[1500, 5, 6, 'scan']] },
    { what: 'a silent link-MTU mismatch after hop 3, TCP IPv4', flow: { ...FLOW4, protocol: 'tcp' }, routers: routers(5, 4), links: links(5, { 3: { mtu: 1500, rxMtu: 1400 } }), pathMtu: 1400, holes: [[1500, 3, 4, 'scan']] },
    { what: 'no Packet Too Big after hop 2 of 3, Linux rate limits, UDP IPv4', flow: FLOW4, routers: routers(3, 4, { 2: { sendsPtb: false } }), links: links(3, { 2: { mtu: 1400 } }), rateLimit: LINUX_LIMIT, pathMtu: 1400, holes: [[1500, 2, 3, 'scan']] },
    { what: 'no Packet Too Big after hop 6 of 10, Linux rate limits, ICMP IPv6', flow: { ...FLOW6, protocol: 'icmp' }, routers: routers(10, 6, { 6: { sendsPtb: false } }), links: links(10, { 6: { mtu: 1400 } }), rateLimit: LINUX_LIMIT, pathMtu: 1400, holes: [[1500, 6, 7, 'scan']] },
    { what: 'two black holes in series (1450 after hop 2, 1400 after hop 5), UDP IPv4', flow: FLOW4, routers: routers(7, 4, { 2: { sendsPtb: false }, 5: { sendsPtb: false } }), links: links(7, { 2: { mtu: 1450 }, 5: { mtu: 1400 } }), pathMtu: 1400, holes: [[1500, 2, 3, 'scan'], [1401, 5, 6, 'bisection']] },
    { what: 'a healthy path, Linux rate limits, UDP IPv4', flow: FLOW4, routers: routers(4, 4), links: links(4), rateLimit: LINUX_LIMIT, pathMtu: 1500, holes: [] },
    { what: 'Packet Too Big at hop 2, UDP IPv6', flow: FLOW6, routers: routers(4, 6), links: links(4, { 2: { mtu: 1400 } }), pathMtu: 1400, holes: [] },
  ];

  async function run(c: Case, loses?: readonly number[]): Promise<{ r: HopTraceResult; sent: SimSent[] }> {
    const path: SimPath = { flow: c.flow, routers: c.routers, links: c.links, ...(c.rateLimit === undefined ? {} : { rateLimit: c.rateLimit }), ...(loses === undefined ? {} : { loses }) };
    const { clock, timing, sent } = simulate(path, { deadlineMs: 120_000 });
    const r = await clock.run(traceHops(timing, { ...timing.options, startSize: 1500, maxHops: 30, parallel: 8 }));
    return { r, sent };
  }

  it('whichever large probe that fits is lost, the trace still reports the exact path MTU and the same black holes', async () => {
    const wrong: string[] = [];
    let tried = 0;
    for (const c of CASES) {
      const clean = await run(c);
      assert.equal(clean.r.pathMtu, c.pathMtu, c.what);
      // Without a loss nothing is said to be one, and the smallest failing size was sent (and lost) at least twice.
      assert.equal(clean.r.search?.notReproduced, undefined, c.what);
      const failing = clean.r.search?.smallestFailing;
      if (c.holes.length > 0) assert.ok(failing !== undefined && clean.sent.filter((s) => s.df && s.size === failing).length >= 2, c.what);
      // Every large probe with DF (the control and hop probes are small) of a size that fits the path.
      const fitting = clean.sent.filter((s) => s.df && s.size > 100 && s.size <= c.pathMtu);
      assert.ok(fitting.length > 0, c.what);
      for (const s of fitting) {
        tried += 1;
        const { r } = await run(c, [s.index]);
        const holes = r.blackHoles.map((b) => [b.size, b.afterHop, b.beforeHop, b.foundBy]);
        // A probe of the search lost at random, whose loss counted (its control was answered, not rate limited), is
        // named as a loss that was not reproduced.
        const counted = s.ttl === 64 && r.search?.probes.some((p) => p.size === s.size && p.controlAnswered === true) === true;
        const named = !counted || r.search?.notReproduced?.includes(s.size) === true;
        if (r.pathMtu !== c.pathMtu || JSON.stringify(holes) !== JSON.stringify(c.holes) || r.timedOut || !named) {
          wrong.push(`${c.what}: probe #${s.index} (${s.size} bytes, TTL ${s.ttl}) lost: path MTU ${r.pathMtu}, black holes ${JSON.stringify(holes)}, not reproduced ${JSON.stringify(r.search?.notReproduced)}`);
        }
      }
    }
    assert.deepEqual(wrong, [], `${wrong.length} of ${tried} single losses gave a wrong result`);
  });

  it('the full size lost twice on its way to the destination of a healthy path: the search sends it again, it gets through, and no black hole is reported', async () => {
    const c: Case = { what: 'healthy, UDP IPv4', flow: FLOW4, routers: routers(4, 4), links: links(4), pathMtu: 1500, holes: [] };
    const toDestination = (sent: SimSent[], after = -1): number => sent.findIndex((s) => s.index > after && s.df && s.size === 1500 && s.ttl === 5);
    const clean = await run(c);
    const first = toDestination(clean.sent);
    // The scan's one try, then the same size with a control probe behind it (which is answered): a black hole, so far.
    const second = toDestination((await run(c, [first])).sent, first);
    const { r } = await run(c, [first, second]);
    assert.equal(r.pathMtu, 1500);
    assert.equal(r.pathMtuFrom, 'search');
    assert.deepEqual(r.blackHoles, []);
    assert.deepEqual(r.search?.notReproduced, [1500]);
    assert.equal(r.search?.smallestFailing, undefined);
    // Not as expected: the same two losses on a path whose 1500-byte packets do die after hop 3 leave the black hole.
    const hole: Case = { ...c, routers: routers(4, 4, { 3: { sendsPtb: false } }), links: links(4, { 3: { mtu: 1400 } }) };
    const h = await run(hole, [first, second]);
    assert.deepEqual(h.r.blackHoles.map((b) => [b.size, b.afterHop, b.beforeHop]), [[1500, 3, 4]]);
    assert.equal(h.r.pathMtu, 1400);
  });
});
