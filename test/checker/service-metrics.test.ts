import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestResult } from '../../src/checker/test-result.js';
import type { LabProcess } from '../../src/lab/running-lab.js';
import { type CheckerLab, startCheckerLab } from '../support/checker-lab.js';
import { type MetricFamily, parsePrometheusText, sampleSum, sampleValue } from '../support/prometheus-text.js';
import { needsRoot } from '../support/root.js';

interface JsonLogLine {
  readonly time: string;
  readonly level: string;
  readonly message: string;
  readonly client?: string;
  readonly family?: string | null;
  readonly test?: string;
  readonly verdict?: string | null;
  readonly status?: number | null;
  readonly complete?: boolean | null;
  readonly durationMs?: number;
}

/** Tests run by real curl from two clients (one without path MTU discovery), then /metrics read back. */
describe('checker service: /metrics and the JSON log count the tests that ran', needsRoot(), () => {
  let c: CheckerLab;
  let serve: LabProcess;
  const results: TestResult[] = [];
  const started = new Date();

  before(async () => {
    c = await startCheckerLab({
      name: 'chk-metrics',
      clients: [{ name: 'client' }, { name: 'nodf', sysctls: { 'net.ipv4.ip_no_pmtu_disc': '1' } }],
    });
    serve = await c.serve(['--log-format', 'json']);
  });
  after(async () => {
    await serve?.stop('SIGTERM');
    await c?.destroy();
  });

  const scrape = async (): Promise<Map<string, MetricFamily>> => {
    const r = await c.curl('client', [c.url(4, '/metrics')]);
    assert.equal(r.code, 0, r.stderr);
    return parsePrometheusText(r.stdout);
  };

  /** A test's count and log line are written once its connection closed, which can be just after curl saw the answer. */
  const settle = async (endedTests: number): Promise<Map<string, MetricFamily>> => {
    let metrics = await scrape();
    for (let i = 0; i < 50 && sampleSum(metrics, 'mtuscope_tests_total') < endedTests; i++) {
      await new Promise((r) => setTimeout(r, 100));
      metrics = await scrape();
    }
    return metrics;
  };

  it('before any test: Prometheus text, no test counted, no Packet Too Big or fragment sent', async () => {
    const type = await c.curl('client', ['-o', '/dev/null', '-w', '%{content_type}', c.url(6, '/metrics')]);
    assert.equal(type.stdout, 'text/plain; version=0.0.4; charset=utf-8');
    const m = await scrape();
    assert.equal(sampleSum(m, 'mtuscope_tests_total'), 0);
    assert.equal(sampleValue(m, 'mtuscope_engine_up'), 1);
    assert.equal(sampleValue(m, 'mtuscope_engine_packet_too_big_sent_total'), 0);
    assert.equal(sampleValue(m, 'mtuscope_engine_fragments_sent_total'), 0);
    assert.equal(sampleValue(m, 'mtuscope_running_tests'), 0);
  });

  it('after tests of both families and several verdicts, the counters match them by test, verdict and family', async () => {
    results.push((await c.icmpJson('client', 4)).result);
    await c.lab.mustExec('client', ['ip', 'route', 'flush', 'cache', 'to', c.server4]);
    results.push((await c.icmpJson('client', 6)).result);
    await c.lab.mustExec('client', ['ip', '-6', 'route', 'flush', 'cache']);
    results.push((await c.icmpJson('nodf', 4)).result);
    results.push((await c.fragJson('client', 4)).result);
    results.push((await c.fragJson('client', 6)).result);
    results.push((await c.fragJson('nodf', 4)).result);
    assert.deepEqual(
      results.map((r) => `${r.test}/${r.evidence.family}/${r.verdict}`),
      ['icmp/ipv4/pass', 'icmp/ipv6/pass', 'icmp/ipv4/no-df', 'frag/ipv4/pass', 'frag/ipv6/pass', 'frag/ipv4/pass'],
    );
    // A test refused before it could run: counted without a verdict.
    const tiny = await c.curl('client', ['-w', '%{http_code}', c.url(6, '/icmp'), '--data', 'tiny']);
    assert.match(tiny.stdout, /400$/);

    const m = await settle(results.length + 1);
    const expected = new Map<string, number>();
    for (const r of results) {
      const key = JSON.stringify({ test: r.test, verdict: r.verdict, family: r.evidence.family });
      expected.set(key, (expected.get(key) ?? 0) + 1);
    }
    expected.set(JSON.stringify({ test: 'icmp', verdict: 'none', family: 'ipv6' }), 1);
    const shown = new Map(
      (m.get('mtuscope_tests_total')?.samples ?? []).map((s) => [JSON.stringify({ test: s.labels['test'], verdict: s.labels['verdict'], family: s.labels['family'] }), s.value]),
    );
    assert.deepEqual(shown, expected);
    assert.equal(sampleValue(m, 'mtuscope_test_duration_seconds_count', { test: 'icmp', family: 'ipv4' }), 2);
    assert.equal(sampleValue(m, 'mtuscope_test_duration_seconds_count', { test: 'frag', family: 'ipv4' }), 2);
    assert.equal(sampleValue(m, 'mtuscope_test_duration_seconds_count', { test: 'frag', family: 'ipv6' }), 1);
    assert.ok(sampleValue(m, 'mtuscope_test_duration_seconds_sum', { test: 'frag', family: 'ipv6' }) > 0);

    // The engine's counters are what the tests' evidence adds up to: nothing else ran on this service.
    const total = (pick: (r: TestResult) => number): number => results.reduce((sum, r) => sum + pick(r), 0);
    assert.ok(total((r) => r.evidence.packetTooBigSent) > 0);
    assert.equal(sampleValue(m, 'mtuscope_engine_packet_too_big_sent_total'), total((r) => r.evidence.packetTooBigSent));
    assert.equal(sampleValue(m, 'mtuscope_engine_fragments_sent_total'), total((r) => r.evidence.fragmentsSent));
    assert.equal(sampleValue(m, 'mtuscope_engine_segments_fragmented_total'), total((r) => r.evidence.segmentsFragmented));
    assert.ok(sampleValue(m, 'mtuscope_engine_connections_tracked_total') >= results.length + 1);
    assert.equal(sampleValue(m, 'mtuscope_engine_malformed_total'), 0);
    // Latencies: one Packet Too Big latency per message the engine sent (not the kernel), one decision per queued packet.
    const inKernel = sampleValue(m, 'mtuscope_engine_packet_too_big_answered_in_kernel_total');
    assert.ok(inKernel > 0, 'the kernel answered');
    assert.equal(sampleValue(m, 'mtuscope_engine_packet_too_big_latency_seconds_count'), total((r) => r.evidence.packetTooBigSent) - inKernel);
    assert.equal(sampleValue(m, 'mtuscope_engine_decision_latency_seconds_count'), sampleValue(m, 'mtuscope_engine_packets_total'));

    const stored = JSON.parse((await c.curl('client', [c.url(4, '/api/results?limit=100')])).stdout) as { results: unknown[] };
    assert.equal(stored.results.length, results.length);
  });

  it('--log-format json: one JSON object per line, a test line per test with its fields', async () => {
    assert.equal(results.length, 6, 'the tests above ran');
    const lines = serve.stderr.split('\n').filter((l) => l !== '');
    const parsed = lines.map((l) => {
      assert.match(l, /^\{.*\}$/, `not one JSON object: ${l}`);
      return JSON.parse(l) as JsonLogLine;
    });
    for (const p of parsed) {
      assert.ok(new Date(p.time) >= new Date(started.getTime() - 1000) && new Date(p.time) <= new Date(), p.time);
      assert.ok(p.level === 'info' || p.level === 'error', p.level);
      assert.equal(typeof p.message, 'string');
    }
    assert.match(parsed[0]?.message ?? '', /^listening on http:\/\//);
    const tests = parsed.filter((p) => p.test !== undefined);
    const withVerdict = tests.filter((p) => p.verdict !== null);
    assert.deepEqual(
      withVerdict.map((p) => `${p.test}/${p.family}/${p.verdict}/${p.status}/${p.complete}`).sort(),
      results.map((r) => `${r.test}/${r.evidence.family}/${r.verdict}/200/true`).sort(),
    );
    const client4 = c.lab.address('client', 4);
    assert.ok(withVerdict.some((p) => p.client === client4 && p.test === 'icmp' && p.verdict === 'pass'));
    assert.ok(withVerdict.some((p) => p.client === c.lab.address('nodf', 4) && p.verdict === 'no-df'));
    assert.deepEqual(
      tests.filter((p) => p.verdict === null).map((p) => [p.client, p.test, p.status]),
      [[c.lab.address('client', 6), 'icmp', 400]],
    );
    for (const p of tests) {
      assert.ok(typeof p.durationMs === 'number' && p.durationMs >= 0 && p.durationMs < 60_000, JSON.stringify(p));
      // The message is the text line, for people reading the JSON.
      assert.match(p.message, new RegExp(` test=${p.test ?? ''} verdict=${p.verdict ?? 'none'} status=${p.status ?? 'none'} duration=${p.durationMs}ms$`));
    }
    assert.doesNotMatch(serve.stderr, /^mtuscope serve:/m);
  });
});
