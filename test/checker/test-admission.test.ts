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
});
