import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatLogLine, serviceLog } from '../../src/checker/service-log.js';
import { testLogFields, testLogLine, type TestRun } from '../../src/checker/test-log.js';

const NOW = new Date('2024-05-01T12:00:01.500Z');
const RUN: TestRun = { test: 'frag', client: 'fd00:1:2:3::4', startedAt: new Date('2024-05-01T12:00:00.000Z'), verdict: 'blocked' };

describe('the service log', () => {
  it('text: the message after the command name', () => {
    assert.equal(formatLogLine('text', 'listening on http://10.0.0.1:8080', { fields: { a: 1 } }, NOW), 'mtuscope serve: listening on http://10.0.0.1:8080');
  });

  it('json: one object with time, level, message and the fields; the fields cannot replace the three', () => {
    const line = formatLogLine('json', 'hello', { level: 'error', fields: { client: '10.0.0.1', n: 3, ok: false, none: null, time: 'forged', message: 'forged' } }, NOW);
    assert.ok(!line.includes('\n'));
    assert.deepEqual(JSON.parse(line), { time: '2024-05-01T12:00:01.500Z', level: 'error', message: 'hello', client: '10.0.0.1', n: 3, ok: false, none: null });
    assert.deepEqual(Object.keys(JSON.parse(line) as object).slice(0, 3), ['time', 'level', 'message']);
    assert.equal((JSON.parse(formatLogLine('json', 'a\nb')) as { level: string; message: string }).level, 'info');
    assert.equal((JSON.parse(formatLogLine('json', 'a\nb')) as { message: string }).message, 'a\nb');
  });

  it('serviceLog writes whole lines', () => {
    const out: string[] = [];
    serviceLog('json', (l) => out.push(l))('x');
    serviceLog('text', (l) => out.push(l))('y');
    assert.equal(out.length, 2);
    assert.match(out[0] ?? '', /^\{.*"message":"x"\}\n$/);
    assert.equal(out[1], 'mtuscope serve: y\n');
  });

  it("a test's fields say what its text line says", () => {
    const fields = testLogFields(RUN, { code: 200, complete: false }, 1234.6, true);
    assert.deepEqual(fields, {
      startedAt: '2024-05-01T12:00:00.000Z',
      client: 'fd00:1:2::/48',
      family: 'ipv6',
      test: 'frag',
      verdict: 'blocked',
      status: 200,
      complete: false,
      durationMs: 1235,
    });
    assert.equal(testLogLine(RUN, { code: 200, complete: false }, 1234.6, true), '2024-05-01T12:00:00.000Z client=fd00:1:2::/48 test=frag verdict=blocked status=200-incomplete duration=1235ms');
    assert.deepEqual(testLogFields({ ...RUN, client: '', verdict: undefined }, undefined, 1, false), {
      startedAt: '2024-05-01T12:00:00.000Z',
      client: 'unknown',
      family: null,
      test: 'frag',
      verdict: null,
      status: null,
      complete: null,
      durationMs: 1,
    });
  });
});
