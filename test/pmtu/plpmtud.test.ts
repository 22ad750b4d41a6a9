import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Plpmtud, type PlpmtudOptions } from '../../src/pmtu/plpmtud.js';
import { COMMON_PMTU_TABLE } from '../../src/pmtu/probe-search.js';
import { complete, drive, type SimPath } from './path-sim.js';

const S = 1000;

function machine(extra: Partial<PlpmtudOptions> = {}): Plpmtud {
  return new Plpmtud({ family: 4, maxPlpmtu: 1500, ...extra });
}

/** A machine that has confirmed BASE_PLPMTU and is searching. */
function searching(extra: Partial<PlpmtudOptions> = {}): Plpmtud {
  const p = machine(extra);
  p.enable(0);
  p.probeSent(p.basePlpmtu, 0);
  p.probeAcked(p.basePlpmtu, 10);
  assert.equal(p.state, 'SEARCHING');
  return p;
}

function completeAt(mtu: number, extra: Partial<PlpmtudOptions> = {}): { p: Plpmtud; nowMs: number } {
  const p = machine(extra);
  p.enable(0);
  const r = drive(p, { mtu }, 0, complete);
  assert.equal(p.state, 'SEARCH_COMPLETE');
  return { p, nowMs: r.nowMs };
}

describe('Plpmtud constants (RFC 8899 section 5.1)', () => {
  it('uses the RFC defaults', () => {
    const v4 = machine();
    assert.deepEqual(
      [v4.minPlpmtu, v4.basePlpmtu, v4.maxProbes, v4.probeTimerMs, v4.pmtuRaiseTimerMs, v4.confirmationTimerMs],
      [68, 1200, 3, 20 * S, 600 * S, undefined],
    );
    const v6 = new Plpmtud({ family: 6, maxPlpmtu: 9000 });
    assert.deepEqual([v6.minPlpmtu, v6.basePlpmtu], [1280, 1280]);
    assert.equal(new Plpmtud({ family: 4, maxPlpmtu: 1000 }).basePlpmtu, 1000, 'BASE never above MAX_PLPMTU');
  });

  it('refuses settings the RFC forbids', () => {
    assert.throws(() => machine({ probeTimerMs: 999 }), /PROBE_TIMER MUST NOT be smaller than 1 s/);
    assert.throws(() => machine({ basePlpmtu: 1600 }), /above maxPlpmtu/);
    assert.throws(() => machine({ minPlpmtu: 67 }), /minPlpmtu 67/);
    assert.throws(() => new Plpmtud({ family: 6, maxPlpmtu: 1279 }), /maxPlpmtu 1279/);
    assert.throws(() => machine({ confirmationTimerMs: 600 * S }), /less than PMTU_RAISE_TIMER/);
    assert.throws(() => machine({ maxProbes: 0 }), /maxProbes/);
  });
});

describe('Plpmtud state machine (RFC 8899 section 5.2)', () => {
  it('stays DISABLED until enabled, then probes BASE_PLPMTU at once', () => {
    const p = machine();
    assert.equal(p.state, 'DISABLED');
    assert.equal(p.nextProbeSize(0), undefined);
    assert.equal(p.deadline(), undefined);
    p.enable(5);
    assert.equal(p.state, 'BASE');
    assert.equal(p.plpmtu, 1200);
    assert.equal(p.nextProbeSize(5), 1200);
    p.probeSent(1200, 5);
    assert.equal(p.nextProbeSize(6), undefined, 'one probe in flight at a time');
    assert.equal(p.deadline(), 5 + 20 * S);
    assert.throws(() => p.probeSent(1200, 7), /the probe due now is none/);
  });

  it('counts a probe lost only when its PROBE_TIMER runs out', () => {
    const p = machine();
    p.enable(0);
    p.probeSent(1200, 0);
    assert.equal(p.nextProbeSize(20 * S - 1), undefined);
    assert.equal(p.probeCounter, 0);
    assert.equal(p.nextProbeSize(20 * S), 1200);
    assert.equal(p.probeCounter, 1);
    assert.match(p.history.at(-1)?.reason ?? '', /PROBE_TIMER \(20000 ms\) expired \(PROBE_COUNT 1\/3\)/);
  });

  it('enters ERROR after MAX_PROBES lost BASE probes, signals MIN_PLPMTU, and leaves when BASE gets through', () => {
    const p = machine();
    p.enable(0);
    const path: SimPath = { mtu: 1000 };
    const r = drive(p, path, 0, (m) => m.state === 'ERROR');
    assert.deepEqual(r.probes.map((x) => x.size), [1200, 1200, 1200]);
    assert.equal(p.plpmtu, 68);
    const more = drive(p, path, r.nowMs, () => false, 5);
    assert.deepEqual(more.probes.map((x) => [x.size, x.state]), Array(5).fill([1200, 'ERROR']));
    assert.equal(more.probes[1]!.sentAtMs - more.probes[0]!.sentAtMs, 20 * S, 'one BASE probe per PROBE_TIMER');
    path.mtu = 1500;
    drive(p, path, more.nowMs, complete);
    assert.equal(p.plpmtu, 1500);
    const states = p.transitions.map((t) => `${t.from}>${t.to}`);
    assert.deepEqual(states, ['DISABLED>BASE', 'BASE>ERROR', 'ERROR>SEARCHING', 'SEARCHING>SEARCH_COMPLETE']);
  });

  it('IPv6 ERROR signals 1280', () => {
    const p = new Plpmtud({ family: 6, maxPlpmtu: 1500, basePlpmtu: 1400 });
    p.enable(0);
    drive(p, { mtu: 1300 }, 0, (m) => m.state === 'ERROR');
    assert.equal(p.plpmtu, 1280);
  });

  it('binary search: MAX_PLPMTU first, then halves the range; converges to the exact path MTU', () => {
    const p = machine();
    p.enable(0);
    const r = drive(p, { mtu: 1400 }, 0, complete);
    const sizes = r.probes.map((x) => x.size);
    assert.deepEqual(sizes.slice(0, 5), [1200, 1500, 1500, 1500, 1350]);
    assert.equal(p.plpmtu, 1400);
    // Every size above 1400 is probed MAX_PROBES times, every size at or below once.
    for (const s of new Set(sizes)) assert.equal(sizes.filter((x) => x === s).length, s > 1400 ? 3 : 1, String(s));
    assert.equal(new Set(sizes).size, 2 + Math.ceil(Math.log2(300)));
  });

  it('binary search converges to every path MTU between BASE and MAX (and to MAX beyond it)', () => {
    for (let mtu = 1200; mtu <= 1600; mtu += 7) {
      const { p } = completeAt(mtu);
      assert.equal(p.plpmtu, Math.min(mtu, 1500), `path MTU ${mtu}`);
    }
    for (const mtu of [1280, 1492, 4352, 8999, 9000]) {
      const { p } = completeAt(mtu, { family: 6, maxPlpmtu: 9000 });
      assert.equal(p.plpmtu, mtu);
    }
  });

  it('a search ceiling keeps the first search below a size known to fail: no MAX_PLPMTU probe first, the same result', () => {
    // Resuming above a size that got through (BASE 1349) below one known to fail (1499): the middle first, not 1500.
    const p = machine({ basePlpmtu: 1349, searchCeiling: 1499 });
    p.enable(0);
    const r = drive(p, { mtu: 1400 }, 0, complete);
    assert.deepEqual(r.probes.slice(0, 2).map((x) => x.size), [1349, 1424]);
    assert.equal(p.plpmtu, 1400);
    assert.ok(r.probes.every((x) => x.size < 1499));
    // Not as expected without it: MAX_PLPMTU is the first size searched.
    const q = machine({ basePlpmtu: 1349 });
    q.enable(0);
    assert.deepEqual(drive(q, { mtu: 1400 }, 0, complete).probes.slice(0, 2).map((x) => x.size), [1349, 1500]);
    assert.throws(() => machine({ basePlpmtu: 1349, searchCeiling: 1349 }), /searchCeiling 1349 must be an integer of at least 1350/);
    assert.throws(() => machine({ searchCeiling: 1502 }), /searchCeiling 1502 is above maxPlpmtu \+ 1 \(1501\)/);
  });

  it('a coarser precision stops the binary search early, never above the path MTU', () => {
    const { p } = completeAt(1433, { searchPrecision: 16 });
    assert.ok(p.plpmtu <= 1433 && p.plpmtu > 1433 - 16, String(p.plpmtu));
  });

  it('table search steps up through common sizes and stops at the first that fails', () => {
    const cases: [number, number][] = [[1450, 1450], [1460, 1450], [1499, 1492], [1500, 1500], [1279, 1200], [1300, 1280]];
    for (const [mtu, expected] of cases) {
      const p = machine({ search: 'table' });
      p.enable(0);
      const r = drive(p, { mtu }, 0, complete);
      assert.equal(p.plpmtu, expected, `path MTU ${mtu}`);
      const failed = r.probes.filter((x) => !x.delivered).map((x) => x.size);
      assert.equal(new Set(failed).size, mtu >= 1500 ? 0 : 1, 'one failing size ends the search');
    }
    const big = new Plpmtud({ family: 4, maxPlpmtu: 9000, search: 'table' });
    big.enable(0);
    const r = drive(big, { mtu: 9000 }, 0, complete);
    assert.deepEqual(r.probes.map((x) => x.size), [1200, ...COMMON_PMTU_TABLE.filter((s) => s <= 9000)]);
  });

  it('ignores acknowledgments and losses of probes that are not in flight', () => {
    const p = searching();
    p.probeAcked(1500, 20);
    assert.equal(p.plpmtu, 1200);
    p.probeLost(1500, 20);
    assert.equal(p.probeCounter, 0);
    assert.equal(p.history.at(-1)?.kind, 'ignored');
    p.probeSent(1500, 30);
    p.probeLost(1500, 40);
    assert.equal(p.probeCounter, 1);
    assert.equal(p.nextProbeSize(40), 1500, 'a reported loss allows the next probe at once');
  });
});

describe('Plpmtud timers', () => {
  it('raises after PMTU_RAISE_TIMER: searches again from the PLPMTU and finds a larger path MTU', () => {
    const { p, nowMs } = completeAt(1400);
    const doneAt = p.transitions.at(-1)!.atMs;
    assert.equal(p.deadline(), doneAt + 600 * S);
    assert.equal(p.nextProbeSize(doneAt + 600 * S - 1), undefined);
    assert.equal(p.state, 'SEARCH_COMPLETE');
    const r = drive(p, { mtu: 1500 }, Math.max(nowMs, doneAt + 600 * S), complete);
    assert.deepEqual(r.probes.map((x) => x.size), [1500]);
    assert.equal(p.plpmtu, 1500);
    assert.match(p.transitions.at(-2)?.reason ?? '', /PMTU_RAISE_TIMER \(600000 ms\) expired/);
  });

  it('an acknowledged PL sends no confirmation probes in SEARCH_COMPLETE', () => {
    const { p, nowMs } = completeAt(1500);
    assert.match(p.transitions.at(-1)?.reason ?? '', /MAX_PLPMTU probe \(1500\) acknowledged/);
    assert.equal(p.nextProbeSize(nowMs + 599 * S), undefined);
  });

  it('an unacknowledged PL confirms the PLPMTU every CONFIRMATION_TIMER and detects a black hole by it', () => {
    const { p, nowMs } = completeAt(1500, { confirmationTimerMs: 60 * S });
    const doneAt = p.transitions.at(-1)!.atMs;
    assert.equal(p.deadline(), doneAt + 60 * S);
    const path: SimPath = { mtu: 1500 };
    // Two healthy confirmations.
    let r = drive(p, path, Math.max(nowMs, doneAt + 60 * S), () => false, 2);
    assert.deepEqual(r.probes.map((x) => [x.size, x.state, x.delivered]), [[1500, 'SEARCH_COMPLETE', true], [1500, 'SEARCH_COMPLETE', true]]);
    assert.ok(r.probes[1]!.sentAtMs - r.probes[0]!.sentAtMs >= 60 * S);
    assert.equal(p.state, 'SEARCH_COMPLETE');
    // The path shrinks: MAX_PROBES confirmation probes are lost, then BASE, then a search below the failed size.
    path.mtu = 1420;
    const fall = drive(p, path, r.nowMs, (m) => m.state === 'BASE');
    assert.deepEqual(fall.probes.map((x) => [x.size, x.delivered]), [[1500, false], [1500, false], [1500, false]]);
    assert.equal(p.plpmtu, 1200);
    r = drive(p, path, fall.nowMs, complete);
    assert.deepEqual(r.probes.slice(0, 2).map((x) => x.size), [1200, 1350]);
    assert.ok(r.probes.every((x) => x.size < 1500), 'the failed size is not probed again');
    assert.equal(p.plpmtu, 1420);
    assert.ok(p.transitions.some((t) => t.from === 'SEARCH_COMPLETE' && t.to === 'BASE' && /confirmation probes/.test(t.reason)));
  });
});

describe('Plpmtud black holes (RFC 8899 section 4.3)', () => {
  it('falls back to BASE_PLPMTU mid-connection and searches again below the size that failed', () => {
    const { p, nowMs } = completeAt(1500);
    p.blackHoleDetected(nowMs + 5 * S);
    assert.equal(p.state, 'BASE');
    assert.equal(p.plpmtu, 1200);
    const r = drive(p, { mtu: 1400 }, nowMs + 5 * S, complete);
    assert.deepEqual(r.probes.slice(0, 2).map((x) => x.size), [1200, 1350]);
    assert.ok(r.probes.every((x) => x.size < 1500));
    assert.equal(p.plpmtu, 1400);
  });

  it('a black hole while SEARCHING also goes back to BASE; in BASE and DISABLED it is left to the BASE probes', () => {
    const p = searching();
    p.probeSent(1500, 20);
    p.blackHoleDetected(30);
    assert.deepEqual([p.state, p.plpmtu, p.probeInFlight], ['BASE', 1200, undefined]);
    p.blackHoleDetected(40);
    assert.equal(p.state, 'BASE');
    assert.equal(p.history.at(-1)?.kind, 'ignored');
  });

  it('falls to ERROR when even BASE_PLPMTU no longer gets through, and disables on loss of connectivity', () => {
    const { p, nowMs } = completeAt(1500);
    p.blackHoleDetected(nowMs);
    drive(p, { mtu: 600 }, nowMs, (m) => m.state === 'ERROR');
    assert.equal(p.plpmtu, 68);
    p.disable(nowMs + 200 * S);
    assert.deepEqual([p.state, p.nextProbeSize(nowMs + 200 * S), p.deadline()], ['DISABLED', undefined, undefined]);
  });
});

describe('Plpmtud Packet Too Big (RFC 8899 section 4.6.2)', () => {
  it('discards a PTB size below MIN_PLPMTU, including zero', () => {
    for (const [family, size] of [[4, 0], [4, 67], [6, 1279], [6, 0]] as const) {
      const p = searching({ family, maxPlpmtu: 1500, basePlpmtu: 1280 });
      p.probeSent(1500, 20);
      p.packetTooBig(size, 30);
      assert.deepEqual([p.state, p.plpmtu, p.probeInFlight?.size], ['SEARCHING', 1280, 1500]);
      assert.match(p.history.at(-1)?.reason ?? '', /below MIN_PLPMTU .* discarded/);
    }
  });

  it('discards a PTB size not below the probe it answers (inconsistent), or not below its quoted packet', () => {
    const p = searching();
    p.probeSent(1500, 20);
    p.packetTooBig(1500, 30);
    p.packetTooBig(9000, 31);
    p.packetTooBig(1400, 32, 1400);
    assert.deepEqual([p.state, p.plpmtu, p.probeInFlight?.size], ['SEARCHING', 1200, 1500]);
    assert.equal(p.history.filter((e) => e.kind === 'ignored' && /inconsistent/.test(e.reason)).length, 3);
    // With nothing in flight, a PTB at or above the PLPMTU complains about a packet that was never too big.
    const done = completeAt(1500).p;
    done.packetTooBig(1500, 10 * S);
    assert.equal(done.state, 'SEARCH_COMPLETE');
    // A PTB in DISABLED is ignored.
    const off = machine();
    off.packetTooBig(1000, 0);
    assert.equal(off.state, 'DISABLED');
  });

  it('PLPMTU < PTB < PROBED_SIZE: keeps the PLPMTU and probes the reported size next', () => {
    const p = searching();
    p.probeSent(1500, 20);
    p.packetTooBig(1400, 30, 1500);
    assert.deepEqual([p.state, p.plpmtu, p.probeInFlight], ['SEARCHING', 1200, undefined]);
    const r = drive(p, { mtu: 1400 }, 30, complete);
    assert.deepEqual(r.probes.map((x) => x.size), [1400]);
    assert.equal(p.plpmtu, 1400);
  });

  it('PTB = PLPMTU while searching completes the search', () => {
    const p = searching();
    p.probeSent(1500, 20);
    p.packetTooBig(1200, 30);
    assert.deepEqual([p.state, p.plpmtu], ['SEARCH_COMPLETE', 1200]);
    assert.match(p.transitions.at(-1)?.reason ?? '', /PL_PTB_SIZE = PLPMTU/);
  });

  it('BASE_PLPMTU <= PTB < PLPMTU: a black-hole sign, PLPMTU set to BASE, the search starts from the PTB size', () => {
    const { p, nowMs } = completeAt(1500);
    p.packetTooBig(1300, nowMs + S, 1500);
    assert.deepEqual([p.state, p.plpmtu], ['BASE', 1200]);
    const r = drive(p, { mtu: 1300 }, nowMs + S, complete);
    assert.deepEqual(r.probes.map((x) => x.size), [1200, 1300]);
    assert.equal(p.plpmtu, 1300);
  });

  it('MIN_PLPMTU <= PTB < BASE_PLPMTU: enters ERROR (IPv4 at 68 and above, IPv6 at 1280 and above)', () => {
    const { p, nowMs } = completeAt(1500);
    p.packetTooBig(576, nowMs + S);
    assert.deepEqual([p.state, p.plpmtu], ['ERROR', 68]);
    const v6 = new Plpmtud({ family: 6, maxPlpmtu: 1500, basePlpmtu: 1400 });
    v6.enable(0);
    v6.probeSent(1400, 0);
    v6.packetTooBig(1280, 10, 1400);
    assert.deepEqual([v6.state, v6.plpmtu], ['ERROR', 1280]);
    // In ERROR a further one changes nothing: the BASE probe in flight stays.
    drive(p, { mtu: 1000 }, nowMs + S, () => true, 1);
    const before = p.transitions.length;
    const inFlight = p.probeInFlight;
    assert.equal(inFlight?.size, 1200);
    p.packetTooBig(1000, inFlight.sentAtMs + 1, 1200);
    assert.deepEqual([p.state, p.transitions.length, p.probeInFlight], ['ERROR', before, inFlight]);
    // In BASE (figure 5: PTB with PL_PTB_SIZE < BASE_PLPMTU) too.
    const b = machine();
    b.enable(0);
    b.probeSent(1200, 0);
    b.packetTooBig(1000, 5, 1200);
    assert.equal(b.state, 'ERROR');
  });

  it('a PTB never sets the PLPMTU directly: only an acknowledged probe does', () => {
    const p = searching();
    p.probeSent(1500, 20);
    p.packetTooBig(1450, 30);
    assert.equal(p.plpmtu, 1200);
    drive(p, { mtu: 1300 }, 30, complete);
    assert.ok(p.plpmtu <= 1300, 'the PTB size 1450 was only a search point');
    assert.equal(p.plpmtu, 1300);
  });
});

describe('Plpmtud history', () => {
  it('keeps at most historyLimit events, each with a reason', () => {
    const p = machine({ historyLimit: 5 });
    p.enable(0);
    drive(p, { mtu: 1400 }, 0, complete);
    assert.equal(p.history.length, 5);
    assert.ok(p.history.every((e) => e.reason.length > 0));
    assert.equal(p.transitions.at(-1)?.to, 'SEARCH_COMPLETE');
  });
});

describe('Plpmtud properties', () => {
  const arbCase = fc.record({
    family: fc.constantFrom(4 as const, 6 as const),
    max: fc.integer({ min: 1280, max: 9000 }),
    pathOffset: fc.integer({ min: -1500, max: 9000 }),
    search: fc.constantFrom('binary' as const, 'table' as const),
    maxProbes: fc.integer({ min: 1, max: 4 }),
    losses: fc.array(fc.boolean(), { maxLength: 40, size: 'max' }),
  }, { noNullPrototype: true });

  it('never reports a PLPMTU above the path MTU once SEARCH_COMPLETE, and converges within a bounded number of probes', () => {
    fc.assert(
      fc.property(arbCase, (c) => {
        const p = new Plpmtud({ family: c.family, maxPlpmtu: c.max, search: c.search, maxProbes: c.maxProbes });
        const min = c.family === 4 ? 68 : 1280;
        const pathMtu = Math.max(min, c.max + c.pathOffset);
        let lost = 0;
        const lose = (_size: number, i: number): boolean => {
          const l = c.losses[i] ?? false;
          if (l) lost += 1;
          return l;
        };
        p.enable(0);
        const check = (m: Plpmtud): void => {
          if (m.state === 'SEARCH_COMPLETE') assert.ok(m.plpmtu <= pathMtu, `PLPMTU ${m.plpmtu} > path MTU ${pathMtu}`);
          assert.ok(m.plpmtu <= c.max);
        };
        const bound = (): number =>
          lost + 1 + c.maxProbes * (Math.ceil(Math.log2(c.max - p.basePlpmtu + 2)) + 2 + COMMON_PMTU_TABLE.length);
        if (pathMtu < p.basePlpmtu) {
          const r = drive(p, { mtu: pathMtu, lose }, 0, (m) => m.state === 'ERROR', 200, check);
          assert.equal(p.state, 'ERROR');
          assert.equal(p.plpmtu, min);
          assert.ok(r.probes.length <= c.losses.length + c.maxProbes);
          return;
        }
        const r = drive(p, { mtu: pathMtu, lose }, 0, complete, 1000, check);
        assert.equal(p.state, 'SEARCH_COMPLETE', `not complete after ${r.probes.length} probes`);
        assert.ok(r.probes.length <= bound(), `${r.probes.length} probes > bound ${bound()}`);
        assert.ok(p.plpmtu <= pathMtu && p.plpmtu >= p.basePlpmtu);
        if (lost === 0 && c.search === 'binary') assert.equal(p.plpmtu, Math.min(pathMtu, c.max));
        if (lost === 0 && c.search === 'table') {
          const reachable = [...COMMON_PMTU_TABLE, c.max].filter((s) => s <= Math.min(pathMtu, c.max) && s >= p.basePlpmtu);
          assert.equal(p.plpmtu, Math.max(p.basePlpmtu, ...reachable));
        }
      }),
      { numRuns: 1500 },
    );
  });
});
