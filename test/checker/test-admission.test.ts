import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Admission, TestAdmission } from '../../src/checker/test-admission.js';

const GENEROUS = { perClient: { perSecond: 1000, burst: 1000 }, global: { perSecond: 1000, burst: 1000 } };

function admitted(a: Admission): Extract<Admission, { ok: true }> {
  assert.ok(a.ok, a.ok ? '' : a.reason);
  return a;
}

describe('TestAdmission', () => {
  it('bounds the tests running at once: the next one gets 503 until one is released', () => {
    const now = 0;
    const adm = new TestAdmission(GENEROUS, 2, () => now);
    const a = admitted(adm.admit('10.0.0.1'));
    admitted(adm.admit('10.0.0.2'));
    const refused = adm.admit('10.0.0.3');
    assert.deepEqual(refused.ok ? 'admitted' : [refused.status, /2 tests are running/.test(refused.reason)], [503, true]);
    assert.equal(adm.runningTests, 2);
    a.release();
    assert.equal(adm.runningTests, 1);
    admitted(adm.admit('10.0.0.3'));
  });

  it('release() frees a slot once, however often it is called', () => {
    const adm = new TestAdmission(GENEROUS, 2, () => 0);
    const a = admitted(adm.admit('10.0.0.1'));
    admitted(adm.admit('10.0.0.2'));
    a.release();
    a.release();
    a.release();
    assert.equal(adm.runningTests, 1);
    admitted(adm.admit('10.0.0.3'));
    const full = adm.admit('10.0.0.4');
    assert.ok(!full.ok && full.status === 503);
  });

  it('rate per client: 429 past its burst, while other clients still get in; time refills', () => {
    let now = 0;
    const adm = new TestAdmission({ perClient: { perSecond: 0.5, burst: 2 }, global: { perSecond: 1000, burst: 1000 } }, 100, () => now);
    admitted(adm.admit('10.0.0.1')).release();
    admitted(adm.admit('10.0.0.1')).release();
    const limited = adm.admit('10.0.0.1');
    assert.ok(!limited.ok);
    assert.equal(limited.status, 429);
    assert.match(limited.reason, /too many tests/);
    admitted(adm.admit('10.0.0.2'));
    now = 2000;
    admitted(adm.admit('10.0.0.1'));
  });

  it('global rate: 429 for everybody once the total is spent', () => {
    const adm = new TestAdmission({ perClient: { perSecond: 1000, burst: 1000 }, global: { perSecond: 1, burst: 2 } }, 100, () => 0);
    admitted(adm.admit('10.0.0.1'));
    admitted(adm.admit('10.0.0.2'));
    const r = adm.admit('10.0.0.3');
    assert.ok(!r.ok && r.status === 429);
  });

  it('a refusal for concurrency costs no rate token, and neither refusal takes a slot', () => {
    const adm = new TestAdmission({ perClient: { perSecond: 0.001, burst: 1 }, global: { perSecond: 1000, burst: 1000 } }, 1, () => 0);
    const a = admitted(adm.admit('10.0.0.1'));
    for (let i = 0; i < 5; i++) {
      const r = adm.admit('10.0.0.2');
      assert.ok(!r.ok && r.status === 503);
    }
    assert.equal(adm.runningTests, 1);
    a.release();
    admitted(adm.admit('10.0.0.2'));
    const again = adm.admit('10.0.0.2');
    assert.ok(!again.ok && again.status === 503, 'the slot is taken before the rate is asked');
    assert.equal(adm.runningTests, 1);
  });

  it('an IPv6 client is its /64 by default: 145 addresses of one /64 share one budget, another /64 has its own', () => {
    const rate = { perClient: { perSecond: 0.001, burst: 10 }, global: { perSecond: 1000, burst: 1000 } };
    const adm = new TestAdmission(rate, 256, () => 0);
    let admittedCount = 0;
    for (let i = 1; i <= 145; i++) if (adm.admit(`fd00:1:2:3::${i.toString(16)}`).ok) admittedCount++;
    assert.equal(admittedCount, 10, 'the burst of one client');
    assert.equal(adm.runningTests, 10);
    const refused = adm.admit('fd00:1:2:3:ffff:ffff:ffff:ffff');
    assert.ok(!refused.ok && refused.status === 429);
    assert.match(refused.reason, /an IPv6 client counts as its whole \/64/);
    admitted(adm.admit('fd00:1:2:4::1'));
    // IPv4: each address on its own, and an IPv4-mapped address is that IPv4 client.
    for (let i = 0; i < 10; i++) admitted(adm.admit('10.0.0.1'));
    assert.ok(!adm.admit('::ffff:10.0.0.1').ok);
    admitted(adm.admit('10.0.0.2'));
  });

  it('the IPv6 client prefix is a setting: /128 counts every address, /56 joins neighbouring /64s', () => {
    const rate = { perClient: { perSecond: 0.001, burst: 1 }, global: { perSecond: 1000, burst: 1000 } };
    const each = new TestAdmission(rate, 256, () => 0, 128);
    admitted(each.admit('fd00:1:2:3::1'));
    admitted(each.admit('fd00:1:2:3::2'));
    assert.ok(!each.admit('fd00:1:2:3::1').ok);
    const wide = new TestAdmission(rate, 256, () => 0, 56);
    admitted(wide.admit('fd00:1:2:3::1'));
    const sameSite = wide.admit('fd00:1:2:ff::1');
    assert.ok(!sameSite.ok && sameSite.status === 429);
    assert.match(sameSite.reason, /whole \/56/);
    admitted(wide.admit('fd00:1:2:100::1'));
  });
});
