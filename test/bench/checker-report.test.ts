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

const OPTIONS = { duration: 10, clients: 4, concurrency: 8, cpuProfDir: undefined, kernelAnswer: true };

function load(o: Partial<LoadReport> = {}): LoadReport {
  return {
    client: 0,
    attemptsByFamily: { 4: 600, 6: 600 },
    verdicts: { pass: 1200 },
    verdictsByFamily: { 4: { pass: 600 }, 6: { pass: 600 } },
    errors: {},
    late: 0,
    lateVerdictsByFamily: { 4: {}, 6: {} },
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
  return { delays: { delaysMs, oversizedArrivals: samples, packetTooBig: samples, unmatched: 0, unanswered: 0, copies: 0, ...delays }, droppedByKernel };
}

function capturePhase(engine: Capture): CapturePhase {
  const paced = load({ attemptsByFamily: { 4: 250, 6: 250 }, verdicts: { pass: 500 }, verdictsByFamily: { 4: { pass: 250 }, 6: { pass: 250 } } });
  return { name: 'paced at 100 tests/s', load: phase([paced], 5), engine, kernel: capture(), kernelRate: 550, kernelSent: { sent: 2750, errors: 0 } };
}

/** A closed loop of 5 s of a GET test in which all 1000 tests started ended `verdict` in time. */
function getLoad(verdict: string, o: Partial<LoadReport> = {}): LoadReport {
  return load({ attemptsByFamily: { 4: 500, 6: 500 }, verdicts: { [verdict]: 1000 }, verdictsByFamily: { 4: { [verdict]: 500 }, 6: { [verdict]: 500 } }, ...o });
}

function run(changes: { checker?: LoadReport; paced?: Capture; frag?: LoadReport; download?: LoadReport } = {}): Run {
  return {
    serverSettings: RAISED_SERVER_SETTINGS,
    reference: phase([load({ verdicts: { received: 4000 }, verdictsByFamily: { 4: { received: 2000 }, 6: { received: 2000 } } })], 10),
    checker: phase([changes.checker ?? load()], 10),
    stats: {
      counters: { packets: 1000, packetTooBigSent: 500 },
      decisionLatencyMs: { p50: 0.01, p99: 0.1, samples: 1000 },
      packetTooBigLatencyMs: { p50: 0.02, p99: 0.2, samples: 500 },
    },
    ptbSent: 500,
    paced: capturePhase(changes.paced ?? capture()),
    saturated: capturePhase(capture()),
    frag: phase([changes.frag ?? getLoad('pass')], 5),
    download: phase([changes.download ?? getLoad('clear')], 5),
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

function line(text: string, startsWith: string): string {
  const found = text.split('\n').find((l) => l.startsWith(startsWith));
  assert.ok(found, `no line "${startsWith}" in:\n${text}`);
  return found;
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
    assert.match(
      text,
      /server: mtuscope serve --tests-per-client 1000000 --tests-global 1000000 --icmp-per-client 1000000 --icmp-global 1000000 --fragments-per-client 1000000 --fragments-global 1000000 --max-concurrent 100000, raised from the defaults \(--tests-per-client 30 per minute, --tests-global 200 per second, --icmp-per-client 50 per second, --icmp-global 5000 per second, --fragments-per-client 500 per second, --fragments-global 50000 per second, --max-concurrent 256\)/,
    );
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
    const checker = load({ attemptsByFamily: { 4: 650, 6: 650 }, late: 100, lateVerdictsByFamily: { 4: { pass: 40, inconclusive: 10 }, 6: { pass: 40, inconclusive: 10 } } });
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

  it('the ratio target: the checker\'s p99 against the kernel\'s in the same run, under 10x', () => {
    // The kernel reference's delays are 0.3-0.4 ms (p99 0.399 ms): 3.99 ms is exactly 10x, 3.98 ms under it.
    const at = (p99: number): Capture => ({ ...capture(), delays: { ...capture().delays, delaysMs: [...capture().delays.delaysMs.slice(0, -40), ...Array<number>(40).fill(p99)] } });
    const slow = printed(run({ paced: at(3.99) }));
    assert.equal(slow.met, false);
    assert.match(targetLine(slow.text, 'Packet Too Big p99 on the wire at 100 tests/s < 10x'), /: MISSED \(10\.0x\)$/);
    const fast = printed(run({ paced: at(0.5) }));
    assert.match(targetLine(fast.text, 'Packet Too Big p99 on the wire at 100 tests/s < 10x'), /: met \(1\.3x\)$/);
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

  it('the /frag and /download rows count their own verdict of success: "pass" and "clear", per family, of every test started', () => {
    const { met, text } = printed(run());
    assert.equal(met, true, text);
    assert.match(line(text, 'GET tests'), /^GET tests \(closed loop, 4x8 connections, 5 s each\)\s+tests\/s\s+test p50\s+test p99$/);
    assert.match(line(text, '/frag on the checker'), /^\/frag on the checker \(:8080\), "pass" verdicts\s+200\.0\s+50\.000 ms\s+60\.000 ms$/);
    assert.match(line(text, '/download on the checker'), /^\/download on the checker \(:8080\), "clear" verdicts\s+200\.0\s+/);
    assert.match(text, /\/frag: 1000 tests started: verdicts pass 1000; failed 0; late 0 \(0 of them "pass"\); "pass" share 100\.0% of the tests started \(IPv4 100\.0% of 500, IPv6 100\.0% of 500\)/);
    assert.match(text, /\/download: 1000 tests started: verdicts clear 1000; failed 0; late 0 \(0 of them "clear"\); "clear" share 100\.0% of the tests started \(IPv4 100\.0% of 500, IPv6 100\.0% of 500\)/);
  });

  it('failed, refused and late /download tests lower its "clear" share and count in neither its rate nor its latencies', () => {
    const download = getLoad('clear', {
      attemptsByFamily: { 4: 600, 6: 500 },
      verdicts: { clear: 950, inconclusive: 10 },
      verdictsByFamily: { 4: { clear: 450, inconclusive: 10 }, 6: { clear: 500 } },
      errors: { 'HTTP 503: 256 tests are running': 60, 'socket hang up': 20 },
      late: 60,
      lateVerdictsByFamily: { 4: { clear: 50 }, 6: {} },
      durationsMs: [100, 200],
    });
    const { met, text } = printed(run({ download }));
    assert.equal(met, true, 'the GET tests have rows, not targets');
    assert.match(line(text, '/download on the checker'), /"clear" verdicts\s+190\.0\s+100\.000 ms\s+200\.000 ms$/);
    assert.match(
      text,
      /\/download: 1100 tests started: verdicts clear 950, inconclusive 10; failed 80; late 60 \(50 of them "clear"\); "clear" share 90\.9% of the tests started \(IPv4 83\.3% of 600, IPv6 100\.0% of 500\)/,
    );
    assert.match(text, / {2}\/download: failed requests: HTTP 503: 256 tests are running 60, socket hang up 20; 60 finished after the deadline/);
    assert.match(text, /\/frag: 1000 tests started: .*"pass" share 100\.0%/, 'the other test is counted on its own');
  });

  it('a /download verdict other than "clear" and a /frag verdict other than "pass" are not successes', () => {
    const download = getLoad('pass');
    const frag = getLoad('inconclusive');
    const { text } = printed(run({ download, frag }));
    assert.match(line(text, '/download on the checker'), /"clear" verdicts\s+0\.0\s/);
    assert.match(line(text, '/frag on the checker'), /"pass" verdicts\s+0\.0\s/);
    assert.match(text, /\/download: 1000 tests started: verdicts pass 1000; .*"clear" share 0\.0% of the tests started \(IPv4 0\.0% of 500, IPv6 0\.0% of 500\)/);
    assert.match(text, /\/frag: 1000 tests started: verdicts inconclusive 1000; .*"pass" share 0\.0% of the tests started/);
  });
});
