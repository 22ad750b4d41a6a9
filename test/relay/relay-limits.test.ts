import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type LimitedMessage, RELAY_LIMIT_OUTCOMES, type RelayLimitOutcome, RelayLimits, type RelayLimitSettings } from '../../src/relay/relay-limits.js';
import { judgePacketTooBig } from '../../src/relay/relay-verdict.js';
import { parseCidrOrAddress } from '../../src/packet/cidr.js';
import { offendingTcp, packetTooBig } from './relay-packets.js';

const PLENTY = { perSecond: 1_000_000, burst: 1_000_000 };

function settings(overrides: Partial<RelayLimitSettings>): RelayLimitSettings {
  return { perRouter: PLENTY, perFlow: PLENTY, total: PLENTY, dedupMs: 0, maxKeys: 1000, ...overrides };
}

let serial = 0;
/** A message from `router` about `flow`; each call is a different message unless `key` is given. */
function msg(router: string, flow = 'flow', key = `m${serial++}`): LimitedMessage {
  return { router, flowKey: flow, messageKey: key };
}

function outcomes(limits: RelayLimits, messages: readonly LimitedMessage[], nowMs: number): RelayLimitOutcome[] {
  return messages.map((m) => limits.admit(m, nowMs));
}

describe('RelayLimits', () => {
  it('admits a router\'s burst, then says router-limit until tokens accrue at its rate; other routers have their own', () => {
    const l = new RelayLimits(settings({ perRouter: { perSecond: 2, burst: 3 } }), 0);
    assert.deepEqual(outcomes(l, [msg('r1'), msg('r1'), msg('r1'), msg('r1')], 0), ['admitted', 'admitted', 'admitted', 'router-limit']);
    assert.equal(l.admit(msg('r2'), 0), 'admitted');
    assert.equal(l.admit(msg('r1'), 499), 'router-limit', '0.998 of a token');
    assert.equal(l.admit(msg('r1'), 500), 'admitted');
    assert.equal(l.admit(msg('r1'), 500), 'router-limit');
  });

  it('limits each flow, whichever routers report it', () => {
    const l = new RelayLimits(settings({ perFlow: { perSecond: 1, burst: 2 } }), 0);
    assert.deepEqual(outcomes(l, [msg('r1', 'f1'), msg('r2', 'f1'), msg('r3', 'f1'), msg('r3', 'f2')], 0), ['admitted', 'admitted', 'flow-limit', 'admitted']);
    assert.equal(l.admit(msg('r4', 'f1'), 1000), 'admitted');
  });

  it('limits the total over every router and flow', () => {
    const l = new RelayLimits(settings({ total: { perSecond: 10, burst: 2 } }), 0);
    assert.deepEqual(outcomes(l, [msg('r1', 'f1'), msg('r2', 'f2'), msg('r3', 'f3')], 0), ['admitted', 'admitted', 'total-limit']);
    assert.equal(l.admit(msg('r3', 'f3'), 100), 'admitted', 'one token after 0.1 s at 10/s');
  });

  it('checks in order: duplicate, then router, then flow, then total', () => {
    const l = new RelayLimits(settings({ perRouter: { perSecond: 0, burst: 1 }, perFlow: { perSecond: 0, burst: 1 }, total: { perSecond: 0, burst: 1 }, dedupMs: 1000 }), 0);
    assert.equal(l.admit(msg('r1', 'f1', 'k1'), 0), 'admitted');
    // Every bucket r1, f1 and the total is empty now: the first check that fails names the outcome.
    assert.equal(l.admit(msg('r1', 'f1', 'k1'), 0), 'duplicate');
    assert.equal(l.admit(msg('r1', 'f1', 'k2'), 0), 'router-limit');
    assert.equal(l.admit(msg('r2', 'f1', 'k2'), 0), 'flow-limit');
    assert.equal(l.admit(msg('r2', 'f2', 'k2'), 0), 'total-limit');
  });

  it('a duplicate within dedupMs is refused and takes no tokens; after dedupMs from its admission the message is admitted again', () => {
    const l = new RelayLimits(settings({ perRouter: { perSecond: 0, burst: 2 }, dedupMs: 1000 }), 0);
    assert.equal(l.admit(msg('r1', 'f1', 'same'), 0), 'admitted');
    for (let t = 0; t < 1000; t += 100) assert.equal(l.admit(msg('r1', 'f1', 'same'), t), 'duplicate', `at ${t} ms`);
    // The duplicates did not refresh the window, nor take the router's second token.
    assert.equal(l.admit(msg('r1', 'f1', 'same'), 1000), 'admitted');
    assert.equal(l.admit(msg('r1', 'f1', 'other'), 1000), 'router-limit', 'two admissions took the burst of two');
  });

  it('a repeat of a message that a limit refused is no duplicate: it was never relayed', () => {
    const l = new RelayLimits(settings({ perRouter: { perSecond: 1, burst: 1 }, dedupMs: 10_000 }), 0);
    assert.equal(l.admit(msg('r1', 'f1', 'first'), 0), 'admitted');
    assert.equal(l.admit(msg('r1', 'f1', 'second'), 0), 'router-limit');
    assert.equal(l.admit(msg('r1', 'f1', 'second'), 1000), 'admitted');
    assert.equal(l.admit(msg('r1', 'f1', 'second'), 1500), 'duplicate');
  });

  it('dedupMs 0 turns de-duplication off: identical messages meet the buckets only, and none is remembered', () => {
    const l = new RelayLimits(settings({ perRouter: { perSecond: 0, burst: 2 }, dedupMs: 0 }), 0);
    assert.deepEqual(outcomes(l, [msg('r1', 'f', 'k'), msg('r1', 'f', 'k'), msg('r1', 'f', 'k')], 0), ['admitted', 'admitted', 'router-limit']);
    assert.equal(l.tracked.messages, 0);
  });

  it('a message refused by the flow bucket leaves its router\'s tokens; one refused by the total leaves router and flow tokens', () => {
    const l = new RelayLimits(settings({ perRouter: { perSecond: 0, burst: 3 }, perFlow: { perSecond: 0, burst: 1 } }), 0);
    assert.equal(l.admit(msg('r1', 'busy'), 0), 'admitted');
    for (let i = 0; i < 50; i++) assert.equal(l.admit(msg('r1', 'busy'), 0), 'flow-limit');
    assert.deepEqual(outcomes(l, [msg('r1', 'f2'), msg('r1', 'f3'), msg('r1', 'f4')], 0), ['admitted', 'admitted', 'router-limit'], 'r1 still had two tokens');

    const t = new RelayLimits(settings({ perRouter: { perSecond: 0, burst: 2 }, perFlow: { perSecond: 0, burst: 2 }, total: { perSecond: 1, burst: 1 } }), 0);
    assert.equal(t.admit(msg('r1', 'f1'), 0), 'admitted');
    for (let i = 0; i < 50; i++) assert.equal(t.admit(msg('r1', 'f1'), 0), 'total-limit');
    assert.equal(t.admit(msg('r1', 'f1'), 1000), 'admitted', 'r1 and f1 kept their second token through 50 refusals');
    assert.equal(t.admit(msg('r1', 'f9'), 5000), 'router-limit');
  });

  it('a burst below one token refuses every message', () => {
    assert.equal(new RelayLimits(settings({ perRouter: { perSecond: 1, burst: 0 } }), 0).admit(msg('r1'), 10_000), 'router-limit');
    assert.equal(new RelayLimits(settings({ perFlow: { perSecond: 1, burst: 0.5 } }), 0).admit(msg('r1'), 10_000), 'flow-limit');
    assert.equal(new RelayLimits(settings({ total: { perSecond: 1, burst: 0 } }), 0).admit(msg('r1'), 10_000), 'total-limit');
  });

  it('refused messages leave no keys behind; admitted ones leave a router, a flow and (with dedup) a message', () => {
    const l = new RelayLimits(settings({ total: { perSecond: 0, burst: 1 }, dedupMs: 100 }), 0);
    assert.equal(l.admit(msg('r1', 'f1'), 0), 'admitted');
    for (let i = 0; i < 100; i++) assert.equal(l.admit(msg(`other${i}`, `flow${i}`), 0), 'total-limit');
    assert.deepEqual(l.tracked, { routers: 1, flows: 1, messages: 1 });
  });

  it('is bounded in routers: full buckets are forgotten first, then the least recently used', () => {
    // Rate 1/s, burst 3: r-busy spends three tokens at 0 ms; r-idle spends one at 1000 ms and is full again at 2000 ms.
    const l = new RelayLimits(settings({ perRouter: { perSecond: 1, burst: 3 }, maxKeys: 2 }), 0);
    assert.deepEqual(outcomes(l, [msg('r-busy'), msg('r-busy'), msg('r-busy')], 0), ['admitted', 'admitted', 'admitted']);
    assert.equal(l.admit(msg('r-idle'), 1000), 'admitted');
    assert.equal(l.admit(msg('r-new'), 2000), 'admitted');
    assert.equal(l.tracked.routers, 2);
    // r-busy (least recently used, but not full) was kept: two tokens accrued in two seconds, not a fresh three.
    assert.deepEqual(outcomes(l, [msg('r-busy'), msg('r-busy'), msg('r-busy')], 2000), ['admitted', 'admitted', 'router-limit']);
    // Now r-new and r-busy are both busy: a new router forgets the least recently used (r-new), which starts afresh.
    assert.deepEqual(outcomes(l, [msg('r-new'), msg('r-new')], 2000), ['admitted', 'admitted']);
    assert.equal(l.admit(msg('r-third'), 2000), 'admitted');
    assert.equal(l.admit(msg('r-new'), 2000), 'router-limit', 'r-new was used last: kept, with no token left');
    assert.deepEqual(outcomes(l, [msg('r-busy'), msg('r-busy'), msg('r-busy'), msg('r-busy')], 2000), ['admitted', 'admitted', 'admitted', 'router-limit'], 'r-busy was forgotten: a fresh burst');
  });

  it('is bounded in flows the same way', () => {
    const l = new RelayLimits(settings({ perFlow: { perSecond: 0, burst: 1 }, maxKeys: 2 }), 0);
    assert.deepEqual(outcomes(l, [msg('r', 'f1'), msg('r', 'f2'), msg('r', 'f3')], 0), ['admitted', 'admitted', 'admitted']);
    assert.equal(l.tracked.flows, 2);
    assert.equal(l.admit(msg('r', 'f1'), 0), 'admitted', 'f1, the oldest, was forgotten');
    assert.equal(l.admit(msg('r', 'f3'), 0), 'flow-limit');
  });

  it('is bounded in remembered messages: expired admissions go first, then the oldest', () => {
    const l = new RelayLimits(settings({ dedupMs: 1000, maxKeys: 2 }), 0);
    assert.deepEqual(outcomes(l, [msg('r', 'f', 'k1'), msg('r', 'f', 'k2'), msg('r', 'f', 'k3')], 0), ['admitted', 'admitted', 'admitted']);
    assert.equal(l.tracked.messages, 2);
    assert.equal(l.admit(msg('r', 'f', 'k3'), 0), 'duplicate');
    assert.equal(l.admit(msg('r', 'f', 'k1'), 0), 'admitted', 'k1, the oldest, was forgotten');
    assert.equal(l.admit(msg('r', 'f', 'k4'), 1000), 'admitted');
    assert.equal(l.tracked.messages, 1, 'k3 and k1 expired at 1000 ms');
  });

  it('remembers a message admitted again after the clock went back from its latest admission', () => {
    const l = new RelayLimits(settings({ dedupMs: 1000 }), 0);
    assert.equal(l.admit(msg('r', 'f', 'a'), 1050), 'admitted');
    assert.equal(l.admit(msg('r', 'f', 'b'), 100), 'admitted', 'the clock went back');
    assert.equal(l.admit(msg('r', 'f', 'b'), 1100), 'admitted', '1000 ms after its admission, though "a" still waits to expire before it');
    assert.equal(l.admit(msg('r', 'f', 'b'), 2060), 'duplicate', '"a" and the admission at 100 ms have expired; the one at 1100 ms has not');
    assert.equal(l.admit(msg('r', 'f', 'b'), 2100), 'admitted');
    assert.equal(l.tracked.messages, 1);
  });

  it('takes time per message that does not grow with the messages it remembers: 150,000 distinct ones at 60,000 a second in under 3 s', () => {
    // With a 1 s window it remembers 60,000 messages at a time. Forgetting them by iterating the map from its start
    // walked over every entry deleted since V8 last rebuilt the map: 40-80 us a message, 6 s or more here.
    const l = new RelayLimits(settings({ dedupMs: 1000, maxKeys: 65_536 }), 0);
    const messages = Array.from({ length: 150_000 }, (_, i) => msg('r', `f${i % 1024}`, `${'quote '.repeat(30)}${i}`));
    let admitted = 0;
    const started = performance.now();
    messages.forEach((m, i) => {
      if (l.admit(m, i / 60) === 'admitted') admitted++;
    });
    const seconds = (performance.now() - started) / 1000;
    assert.equal(admitted, messages.length);
    assert.ok(seconds < 3, `${seconds.toFixed(1)} s`);
    assert.ok(Math.abs(l.tracked.messages - 60_000) <= 1, `${l.tracked.messages} remembered: the last second's`);
  });

  it('property: maps never hold more than maxKeys keys, and every outcome is one of RELAY_LIMIT_OUTCOMES', () => {
    const outcomesSet: ReadonlySet<string> = new Set(RELAY_LIMIT_OUTCOMES);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.tuple(fc.nat({ max: 60 }), fc.nat({ max: 60 }), fc.nat({ max: 60 }), fc.integer({ min: -100, max: 500 })), { maxLength: 400, size: 'max' }),
        (maxKeys, steps) => {
          const l = new RelayLimits(settings({ perRouter: { perSecond: 5, burst: 2 }, perFlow: { perSecond: 5, burst: 2 }, total: { perSecond: 50, burst: 20 }, dedupMs: 300, maxKeys }), 0);
          let now = 0;
          for (const [r, f, k, gap] of steps) {
            now += gap;
            assert.ok(outcomesSet.has(l.admit(msg(`r${r}`, `f${f}`, `k${k}`), now)));
            const t = l.tracked;
            assert.ok(t.routers <= maxKeys && t.flows <= maxKeys && t.messages <= maxKeys, JSON.stringify(t));
          }
        },
      ),
    );
  });

  it('property: admissions per router, per flow and in total never exceed burst + rate × time, and no admitted message repeats within dedupMs', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: 4 }), fc.nat({ max: 4 }), fc.nat({ max: 8 }), fc.nat({ max: 200 })), { maxLength: 400, size: 'max' }),
        (steps) => {
          const perRouter = { perSecond: 3, burst: 2 };
          const perFlow = { perSecond: 4, burst: 3 };
          const total = { perSecond: 8, burst: 5 };
          const dedupMs = 250;
          const l = new RelayLimits({ perRouter, perFlow, total, dedupMs, maxKeys: 1000 }, 0);
          const counts = new Map<string, number>();
          const lastAdmitted = new Map<string, number>();
          let now = 0;
          const bound = (limit: { perSecond: number; burst: number }): number => limit.burst + (limit.perSecond * now) / 1000 + 1e-9;
          for (const [r, f, k, gap] of steps) {
            now += gap;
            const m = msg(`r${r}`, `f${f}`, `k${k}`);
            if (l.admit(m, now) !== 'admitted') continue;
            const previous = lastAdmitted.get(m.messageKey);
            assert.ok(previous === undefined || now - previous >= dedupMs, `${m.messageKey} admitted at ${previous} and ${now}`);
            lastAdmitted.set(m.messageKey, now);
            for (const key of [`router ${m.router}`, `flow ${m.flowKey}`, 'total']) counts.set(key, (counts.get(key) ?? 0) + 1);
            assert.ok(counts.get(`router ${m.router}`)! <= bound(perRouter));
            assert.ok(counts.get(`flow ${m.flowKey}`)! <= bound(perFlow));
            assert.ok(counts.get('total')! <= bound(total));
          }
        },
      ),
    );
  });

  it('property: a refused message leaves no trace: limits asked three more times after each refusal answer every later message alike', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.tuple(fc.nat({ max: 6 }), fc.nat({ max: 6 }), fc.nat({ max: 10 }), fc.nat({ max: 300 })), { maxLength: 300, size: 'max' }),
        (maxKeys, steps) => {
          const s = settings({ perRouter: { perSecond: 2, burst: 2 }, perFlow: { perSecond: 3, burst: 2 }, total: { perSecond: 6, burst: 4 }, dedupMs: 400, maxKeys });
          const once = new RelayLimits(s, 0);
          const insisted = new RelayLimits(s, 0);
          let now = 0;
          for (const [r, f, k, gap] of steps) {
            now += gap;
            const m = msg(`r${r}`, `f${f}`, `k${k}`);
            const outcome = once.admit(m, now);
            assert.equal(insisted.admit(m, now), outcome, `${JSON.stringify(m)} at ${now} ms`);
            if (outcome !== 'admitted') for (let i = 0; i < 3; i++) assert.equal(insisted.admit(m, now), outcome, 'the same message, asked again');
          }
        },
      ),
    );
  });

  it('takes the messages of the relay verdict: a router repeating one Packet Too Big is heard once per window', () => {
    const served = parseCidrOrAddress('10.99.0.0/24');
    assert.ok(served);
    const v = judgePacketTooBig(packetTooBig({ offending: offendingTcp(4, 1500), mtu: 1400 }), { served: [served] });
    assert.ok(v.ok);
    const l = new RelayLimits(settings({ dedupMs: 1000 }), 0);
    assert.deepEqual(outcomes(l, [v.message, v.message], 0), ['admitted', 'duplicate']);
    assert.equal(l.admit(v.message, 1000), 'admitted');
  });

  it('refuses settings that are no limits', () => {
    assert.throws(() => new RelayLimits(settings({ maxKeys: 0 }), 0), /maxKeys 0/);
    assert.throws(() => new RelayLimits(settings({ maxKeys: 2.5 }), 0), RangeError);
    assert.throws(() => new RelayLimits(settings({ dedupMs: -1 }), 0), /dedupMs -1/);
    assert.throws(() => new RelayLimits(settings({ dedupMs: Number.NaN }), 0), RangeError);
    assert.throws(() => new RelayLimits(settings({ perFlow: { perSecond: -1, burst: 1 } }), 0), /perFlow/);
    assert.throws(() => new RelayLimits(settings({ total: { perSecond: 1, burst: Number.POSITIVE_INFINITY } }), 0), /total/);
  });
});
