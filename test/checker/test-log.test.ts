import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientForLog, testLogLine, type TestRun } from '../../src/checker/test-log.js';

const STARTED = new Date('2024-05-01T12:00:00.000Z');

function run(over: Partial<TestRun> = {}): TestRun {
  return { test: 'icmp', client: '10.1.2.3', startedAt: STARTED, verdict: 'pass', ...over };
}

describe('testLogLine', () => {
  it('tells time, client, test, verdict, status and duration', () => {
    assert.equal(
      testLogLine(run(), { code: 200, complete: true }, 1234.4, false),
      '2024-05-01T12:00:00.000Z client=10.1.2.3 test=icmp verdict=pass status=200 duration=1234ms',
    );
  });

  it('says when there was no verdict, no answer, or an answer cut short', () => {
    assert.match(testLogLine(run({ verdict: undefined }), { code: 429, complete: true }, 2, false), / verdict=none status=429 duration=2ms$/);
    assert.match(testLogLine(run({ test: 'frag' }), { code: 200, complete: false }, 9, false), / test=frag verdict=pass status=200-incomplete /);
    assert.match(testLogLine(run({ verdict: undefined }), undefined, 30_000, false), / verdict=none status=none duration=30000ms$/);
  });

  it('names only the network of the client when the service truncates addresses', () => {
    assert.match(testLogLine(run({ client: 'fd00:1:2:3::4' }), undefined, 1, true), / client=fd00:1:2::\/48 /);
    assert.equal(clientForLog('10.1.2.3', true), '10.1.2.0/24');
    assert.equal(clientForLog('10.1.2.3', false), '10.1.2.3');
    assert.equal(clientForLog('', true), 'unknown');
    assert.equal(clientForLog('', false), 'unknown');
  });
});
