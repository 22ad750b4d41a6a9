import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CheckerMetrics } from '../../src/checker/checker-metrics.js';
import type { TestRun } from '../../src/checker/test-log.js';
import type { EngineStats } from '../../src/engine/engine-stats.js';
import { LatencySamples } from '../../src/engine/latency-samples.js';
import { parsePrometheusText, sampleSum, sampleValue } from '../support/prometheus-text.js';

function run(client: string, test: TestRun['test'], verdict: TestRun['verdict']): TestRun {
  return { test, client, startedAt: new Date(0), verdict };
}

function engineStats(decisions: readonly number[], counters: Partial<EngineStats['counters']> = {}): EngineStats {
  const decision = new LatencySamples();
  for (const ms of decisions) decision.add(ms);
  const ptb = new LatencySamples();
  const summary = (s: LatencySamples): EngineStats['decisionLatencyMs'] => ({ p50: s.percentile(50), p99: s.percentile(99), samples: s.size, histogram: s.histogram() });
  return {
    pid: 1,
    counters: {
      packets: 10,
      malformed: 0,
      untracked: 1,
      dropped: 2,
      packetTooBigSent: 3,
      packetTooBigSuppressed: 0,
      packetTooBigAnsweredInKernel: 0,
      segmentsFragmented: 4,
      fragmentsSent: 12,
      fragmentsSuppressed: 0,
      sendErrors: 0,
      connectionsTracked: 5,
      connectionsEvicted: 0,
      connectionsRefused: 0,
      packetTooBigReceived: 0,
      downloadRescues: 0,
      ...counters,
    },
    connections: 2,
    decisionLatencyMs: summary(decision),
    packetTooBigLatencyMs: summary(ptb),
    lastMalformed: null,
    kernelAnswer: { inKernel: false, reason: 'turned off (--no-kernel-answer)' },
  };
}

describe('CheckerMetrics', () => {
  it('counts tests by test, verdict and family, with their durations; each service has its own registry', async () => {
    const a = new CheckerMetrics({ runningTests: () => 3 });
    const b = new CheckerMetrics({ runningTests: () => 0 });
    a.testEnded(run('10.0.1.1', 'icmp', 'pass'), 120);
    a.testEnded(run('10.0.1.1', 'icmp', 'pass'), 80);
    a.testEnded(run('fd00::1', 'frag', 'blocked'), 11_000);
    a.testEnded(run('10.0.1.1', 'icmp', undefined), 3);
    a.testEnded(run('', 'frag', undefined), 1);
    const m = parsePrometheusText(await a.render(undefined));
    assert.equal(sampleValue(m, 'mtuscope_tests_total', { test: 'icmp', verdict: 'pass', family: 'ipv4' }), 2);
    assert.equal(sampleValue(m, 'mtuscope_tests_total', { test: 'frag', verdict: 'blocked', family: 'ipv6' }), 1);
    assert.equal(sampleValue(m, 'mtuscope_tests_total', { test: 'icmp', verdict: 'none', family: 'ipv4' }), 1);
    assert.equal(sampleValue(m, 'mtuscope_tests_total', { test: 'frag', verdict: 'none', family: 'unknown' }), 1);
    assert.equal(sampleSum(m, 'mtuscope_tests_total'), 5);
    assert.equal(sampleValue(m, 'mtuscope_test_duration_seconds_count', { test: 'icmp', family: 'ipv4' }), 3);
    assert.equal(sampleValue(m, 'mtuscope_test_duration_seconds_bucket', { test: 'icmp', family: 'ipv4', le: '0.1' }), 2);
    assert.equal(sampleValue(m, 'mtuscope_test_duration_seconds_bucket', { test: 'frag', family: 'ipv6', le: '10' }), 0);
    assert.equal(sampleValue(m, 'mtuscope_test_duration_seconds_bucket', { test: 'frag', family: 'ipv6', le: '15' }), 1);
    assert.ok(Math.abs(sampleValue(m, 'mtuscope_test_duration_seconds_sum', { test: 'icmp', family: 'ipv4' }) - 0.203) < 1e-9);
    assert.equal(sampleValue(m, 'mtuscope_running_tests'), 3);
    assert.equal(m.get('mtuscope_tests_total')?.type, 'counter');
    // The other service saw nothing.
    const other = parsePrometheusText(await b.render(undefined));
    assert.equal(sampleSum(other, 'mtuscope_tests_total'), 0);
    assert.equal(sampleValue(other, 'mtuscope_running_tests'), 0);
  });

  it("shows the engine's counters and latency histograms as fetched, and says when the engine did not answer", async () => {
    const metrics = new CheckerMetrics({ runningTests: () => 0 });
    const down = parsePrometheusText(await metrics.render(undefined));
    assert.equal(sampleValue(down, 'mtuscope_engine_up'), 0);
    assert.equal(sampleSum(down, 'mtuscope_engine_packets_total'), 0);
    const up = parsePrometheusText(await metrics.render(engineStats([0.004, 0.02, 0.02, 0.3, 2000], { packetTooBigSent: 7 })));
    assert.equal(sampleValue(up, 'mtuscope_engine_up'), 1);
    assert.equal(sampleValue(up, 'mtuscope_engine_packets_total'), 10);
    assert.equal(sampleValue(up, 'mtuscope_engine_packet_too_big_sent_total'), 7);
    assert.equal(sampleValue(up, 'mtuscope_engine_fragments_sent_total'), 12);
    assert.equal(sampleValue(up, 'mtuscope_engine_connections_evicted_total'), 0);
    assert.equal(up.get('mtuscope_engine_packets_total')?.type, 'counter');
    assert.equal(sampleValue(up, 'mtuscope_engine_connections'), 2);
    const bucket = (le: string): number => sampleValue(up, 'mtuscope_engine_decision_latency_seconds_bucket', { le });
    assert.deepEqual([bucket('0.00001'), bucket('0.000025'), bucket('0.0005'), bucket('1'), bucket('+Inf')], [1, 3, 4, 4, 5]);
    assert.equal(sampleValue(up, 'mtuscope_engine_decision_latency_seconds_count'), 5);
    assert.ok(Math.abs(sampleValue(up, 'mtuscope_engine_decision_latency_seconds_sum') - 2.000344) < 1e-9);
    assert.equal(sampleValue(up, 'mtuscope_engine_packet_too_big_latency_seconds_count'), 0);
    // A later scrape shows the engine's newer figures, and a counter of a newer engine build appears.
    const later = parsePrometheusText(await metrics.render(engineStats([], { packets: 25, ...({ retransmissionsSeen: 4 } as object) })));
    assert.equal(sampleValue(later, 'mtuscope_engine_packets_total'), 25);
    assert.equal(sampleValue(later, 'mtuscope_engine_retransmissions_seen_total'), 4);
    // Down again: the last figures stay, marked as not fresh.
    const again = parsePrometheusText(await metrics.render(undefined));
    assert.equal(sampleValue(again, 'mtuscope_engine_up'), 0);
    assert.equal(sampleValue(again, 'mtuscope_engine_packets_total'), 25);
  });

  it("shows the store's failures only when the store counts them", async () => {
    let failures = 0;
    const counted = new CheckerMetrics({ runningTests: () => 0, storeFailures: () => failures });
    assert.equal(sampleValue(parsePrometheusText(await counted.render(undefined)), 'mtuscope_store_failures_total'), 0);
    failures = 4;
    assert.equal(sampleValue(parsePrometheusText(await counted.render(undefined)), 'mtuscope_store_failures_total'), 4);
    const uncounted = parsePrometheusText(await new CheckerMetrics({ runningTests: () => 0 }).render(undefined));
    assert.equal(uncounted.has('mtuscope_store_failures_total'), false);
  });
});
