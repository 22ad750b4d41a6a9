/**
 * bench/checker's verdict on its own figures: the targets must fail when the figures do not show what they claim
 * (failed, refused and late tests; Packet Too Big latencies from too few or incomplete captures) and the printout
 * must name the settings the server ran with.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LoadReport } from '../../bench/checker-load.js';
import { type Capture, type CapturePhase, MIN_PTB_SAMPLES, type PhaseResult, report, type Run } from '../../bench/checker-report.js';
import { RAISED_SERVER_SETTINGS } from '../../bench/checker-settings.js';
import type { PtbDelays } from '../../bench/ptb-delay.js';

const OPTIONS = { duration: 10, clients: 4, concurrency: 8, cpuProfDir: undefined };

function load(o: Partial<LoadReport> = {}): LoadReport {
  return {
    client: 0,
    attemptsByFamily: { 4: 600, 6: 600 },
    passesByFamily: { 4: 600, 6: 600 },
    verdicts: { pass: 1200 },
    verdictsByFamily: { 4: { pass: 600 }, 6: { pass: 600 } },
    errors: {},
    late: 0,
    skipped: 0,
    durationsMs: [40, 50, 60],
    startSkewMs: 0,
    cacheFlushes: 0,
    ...o,
  };
}

function phase(reports: readonly LoadReport[], seconds: number): PhaseResult {
  return { seconds, reports };
}

/** `samples` delays between 0.3 and 0.4 ms: a p99 well under the 2 ms target. */
function capture(delays: Partial<PtbDelays> = {}, droppedByKernel = 0, samples = 2000): Capture {
  const delaysMs = Array.from({ length: samples }, (_, i) => 0.3 + (i % 100) / 1000);
  return { delays: { delaysMs, oversizedArrivals: samples, packetTooBig: samples, unmatched: 0, unanswered: 0, ...delays }, droppedByKernel };
}

function capturePhase(engine: Capture): CapturePhase {
  const paced = load({ attemptsByFamily: { 4: 250, 6: 250 }, passesByFamily: { 4: 250, 6: 250 }, verdicts: { pass: 500 }, verdictsByFamily: { 4: { pass: 250 }, 6: { pass: 250 } } });
  return { name: 'paced at 100 tests/s', load: phase([paced], 5), engine, kernel: capture(), kernelRate: 550, kernelSent: { sent: 2750, errors: 0 } };
}

function run(changes: { checker?: LoadReport; paced?: Capture } = {}): Run {
  return {
    serverSettings: RAISED_SERVER_SETTINGS,
    reference: phase([load({ passesByFamily: { 4: 0, 6: 0 }, verdicts: { received: 4000 }, verdictsByFamily: { 4: { received: 2000 }, 6: { received: 2000 } } })], 10),
    checker: phase([changes.checker ?? load()], 10),
    stats: {
      counters: { packets: 1000, packetTooBigSent: 500 },
      decisionLatencyMs: { p50: 0.01, p99: 0.1, samples: 1000 },
      packetTooBigLatencyMs: { p50: 0.02, p99: 0.2, samples: 500 },
    },
    ptbSent: 500,
    paced: capturePhase(changes.paced ?? capture()),
    saturated: capturePhase(capture()),
  };
}

/** report()'s verdict and what it printed. */
function printed(r: Run): { met: boolean; text: string } {
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk: string | Uint8Array): boolean => {
    chunks.push(String(chunk));
    return true;
  };
  try {
    const met = report(OPTIONS, r);
    return { met, text: chunks.join('') };
  } finally {
    process.stdout.write = write;
  }
}

function targetLine(text: string, startsWith: string): string {
  const line = text.split('\n').find((l) => l.startsWith(`target ${startsWith}`));
  assert.ok(line, `no target line "${startsWith}" in:\n${text}`);
  return line;
}

describe('bench/checker report', () => {
  it('a run that shows what the targets ask meets them all, and the printout names the raised settings with their defaults', () => {
    const { met, text } = printed(run());
    assert.equal(met, true, text);
    assert.match(text, /server: mtuscope serve --tests-per-client 1000000 --tests-global 1000000 --icmp-per-client 1000000 --icmp-global 1000000 --max-concurrent 100000, raised from the defaults \(--tests-per-client 30 per minute, --tests-global 200 per second, --icmp-per-client 50 per second, --icmp-global 5000 per second, --max-concurrent 256\)/);
    assert.match(targetLine(text, '"pass" share'), /: met \(100\.0%, 1200 of 1200\)$/);
    assert.match(targetLine(text, 'Packet Too Big p99'), /: met \(/);
  });

  it('failed requests, 503s and late answers count against the "pass" share', () => {
    const checker = load({
      attemptsByFamily: { 4: 1100, 6: 1100 },
      errors: { 'HTTP 503: 256 tests are running': 700, 'socket hang up': 200 },
      late: 100,
    });
    const { met, text } = printed(run({ checker }));
    assert.equal(met, false);
    assert.match(targetLine(text, '"pass" share'), /: MISSED \(54\.5%, 1200 of 2200\)$/);
    assert.match(text, /2200 tests started: verdicts pass 1200; failed 900; late 100 \(0 of them "pass"\);/);
    assert.match(targetLine(text, 'completed /icmp tests'), /: met \(120\.0\/s\)$/, 'the rate of passes is another target');
  });

  it('a late answer counts in the "pass" share by its verdict, and not in the rate of completed tests', () => {
    const checker = load({ attemptsByFamily: { 4: 650, 6: 650 }, passesByFamily: { 4: 640, 6: 640 }, late: 100 });
    const { text } = printed(run({ checker }));
    assert.match(text, /1300 tests started: verdicts pass 1200; failed 0; late 100 \(80 of them "pass"\); "pass" share 98\.5% of the tests started \(IPv4 98\.5% of 650, IPv6 98\.5% of 650\)/);
    assert.match(targetLine(text, '"pass" share'), /: met \(98\.5%, 1280 of 1300\)$/);
    assert.match(targetLine(text, 'completed /icmp tests'), /: met \(120\.0\/s\)$/);
  });

  it('the Packet Too Big target fails when oversized packets got no answer, whatever the p99 of those that did', () => {
    const { met, text } = printed(run({ paced: capture({ unanswered: 40 }) }));
    assert.equal(met, false);
    assert.match(targetLine(text, 'Packet Too Big p99'), /: MISSED \(.*40 oversized packets got no Packet Too Big\)$/);
  });

  it('the Packet Too Big target fails on too few samples, and on a capture tcpdump lost packets of', () => {
    const few = printed(run({ paced: capture({}, 0, MIN_PTB_SAMPLES - 1) }));
    assert.equal(few.met, false);
    assert.match(targetLine(few.text, 'Packet Too Big p99'), new RegExp(`: MISSED \\(.*${MIN_PTB_SAMPLES - 1} matched packets, fewer than ${MIN_PTB_SAMPLES}\\)$`));
    const lossy = printed(run({ paced: capture({}, 12) }));
    assert.equal(lossy.met, false);
    assert.match(targetLine(lossy.text, 'Packet Too Big p99'), /: MISSED \(.*tcpdump lost 12 packets\)$/);
    assert.equal(printed(run({ paced: capture({}, 0, MIN_PTB_SAMPLES) })).met, true, 'exactly the minimum is enough');
  });
});
