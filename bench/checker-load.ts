/**
 * Load generator of bench/checker, run inside one client namespace (`ip netns exec`): from START_AT (epoch ms) for
 * DURATION seconds, each test POSTs an 8 KB body (or, with --method GET, GETs PATH: /frag, /download) on a connection
 * of its own (`agent: false`, as every test needs a fresh connection) to the next unused server address of the pool,
 * alternating IPv4 and IPv6. Without --rate, CONCURRENCY loops run tests back to back (closed loop: throughput); with
 * --rate, tests start RATE times a second, offset by RATE_PHASE (0..1) of an interval, at most CONCURRENCY at once
 * (open loop: latency at that load).
 * Every test started is counted (attempts); it ends as a verdict before the deadline, an error (HTTP error such as a
 * 503, reset, timeout) or late (completed after the deadline: awaited, and not counted as a verdict of the phase's
 * throughput; the verdict it ended with is kept apart, in lateVerdictsByFamily, so that the share of tests that ended
 * with the test's verdict of success counts it too).
 * Prints one JSON line (LoadReport) and exits.
 *
 *   node dist/bench/checker-load.js --client 0 --port 8080 --path '/icmp?format=json' --concurrency 16 \
 *     --duration 10 --start-at 1700000000000 [--method GET] [--rate 25 --rate-phase 0.25]
 */
import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { poolAddress, V4_ADDRESSES_PER_CLIENT } from './checker-addresses.js';
import type { FamilyMap, IpFamily } from '../src/packet/ip-family.js';
import { errorMessage } from '../src/util/error-message.js';

export interface LoadReport {
  readonly client: number;
  /** Tests started, per address family: each ends as a verdict, an error or late. */
  readonly attemptsByFamily: FamilyMap<number>;
  /** Completed before the deadline, by verdict (the checker's, or "received" from the plain server). */
  readonly verdicts: Record<string, number>;
  /** The same, per address family. */
  readonly verdictsByFamily: FamilyMap<Record<string, number>>;
  /** Failed requests (HTTP errors, resets, timeouts) by message. */
  readonly errors: Record<string, number>;
  /** Completed after the deadline (with a verdict or not): not counted in the figures above. */
  readonly late: number;
  /** The verdicts of the late tests that had one, per address family. */
  readonly lateVerdictsByFamily: FamilyMap<Record<string, number>>;
  /** Paced mode: scheduled tests not started because CONCURRENCY tests were still running. */
  readonly skipped: number;
  /** Milliseconds from request to full response, of the tests that count. */
  readonly durationsMs: number[];
  /** How far after START_AT the first request went out (a late start shortens the measured phase). */
  readonly startSkewMs: number;
  /** Times the IPv4 pool ran out and the route cache was flushed to reuse it. */
  readonly cacheFlushes: number;
}

const BODY = Buffer.from('packettoolongyaithuji6reeNab4XahChaeRah1diej4'.repeat(183).slice(0, 8192));
/** Longer than the checker's test window (10 s), so that a blackholed test still ends with its verdict. */
const REQUEST_TIMEOUT_MS = 30_000;

type Method = 'GET' | 'POST';

interface Outcome {
  readonly verdict?: string;
  readonly error?: string;
}

function runRequest(host: string, port: number, path: string, method: Method): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = request(
      {
        host,
        port,
        path,
        method,
        agent: false,
        headers: method === 'POST' ? { 'Content-Type': 'application/octet-stream', 'Content-Length': BODY.length } : {},
        timeout: REQUEST_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => resolve({ error: err.message }));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: { verdict?: unknown; error?: unknown } = {};
          try {
            parsed = JSON.parse(text) as typeof parsed;
          } catch {
            // Reported below as an unreadable answer.
          }
          if (res.statusCode !== 200) resolve({ error: `HTTP ${res.statusCode ?? '?'}: ${typeof parsed.error === 'string' ? parsed.error : text.slice(0, 120)}` });
          else if (typeof parsed.verdict === 'string') resolve({ verdict: parsed.verdict });
          else resolve({ error: `answer without a verdict: ${text.slice(0, 120)}` });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', (err) => resolve({ error: err.message }));
    if (method === 'POST') req.end(BODY);
    else req.end();
  });
}

function bump(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      client: { type: 'string' },
      port: { type: 'string' },
      path: { type: 'string' },
      method: { type: 'string', default: 'POST' },
      concurrency: { type: 'string' },
      duration: { type: 'string' },
      'start-at': { type: 'string' },
      rate: { type: 'string' },
      'rate-phase': { type: 'string' },
    },
  });
  const client = Number(values.client);
  const port = Number(values.port);
  const path = values.path ?? '/';
  const method = values.method;
  if (method !== 'GET' && method !== 'POST') throw new Error(`--method: "${method}" is not GET or POST`);
  const concurrency = Number(values.concurrency);
  const startAt = Number(values['start-at']);
  const deadline = startAt + Number(values.duration) * 1000;
  const rate = values.rate === undefined ? undefined : Number(values.rate);
  // Where in each 1/RATE interval this client starts its tests (0..1), so that clients do not all start together.
  const phaseMs = rate === undefined ? 0 : (Number(values['rate-phase'] ?? 0) * 1000) / rate;
  if (![client, port, concurrency, startAt, deadline, rate ?? 1, phaseMs].every(Number.isFinite) || (rate !== undefined && rate <= 0)) throw new Error(`bad arguments: ${process.argv.slice(2).join(' ')}`);

  const report: LoadReport = {
    client,
    attemptsByFamily: { 4: 0, 6: 0 },
    verdicts: {},
    verdictsByFamily: { 4: {}, 6: {} },
    errors: {},
    late: 0,
    lateVerdictsByFamily: { 4: {}, 6: {} },
    skipped: 0,
    durationsMs: [],
    startSkewMs: 0,
    cacheFlushes: 0,
  };
  const attempts = { 4: 0, 6: 0 };
  let late = 0;
  let skipped = 0;
  let next = 0;
  let nextV4 = 0;
  let nextV6 = 0;
  let cacheFlushes = 0;
  const destination = (): { family: IpFamily; host: string } => {
    const family = next++ % 2 === 0 ? 4 : 6;
    if (family === 6) return { family, host: poolAddress(6, client, nextV6++) };
    if (nextV4 > 0 && nextV4 % V4_ADDRESSES_PER_CLIENT === 0) {
      // The pool starts over: forget the path MTUs learnt from it, or the reused addresses would test nothing.
      execFileSync('ip', ['-4', 'route', 'flush', 'cache']);
      cacheFlushes++;
    }
    return { family, host: poolAddress(4, client, nextV4++) };
  };

  const runTest = async (): Promise<void> => {
    const { family, host } = destination();
    attempts[family]++;
    const t0 = performance.now();
    const outcome = await runRequest(host, port, path, method);
    const ms = performance.now() - t0;
    if (Date.now() > deadline) {
      late++;
      if (outcome.verdict !== undefined) bump(report.lateVerdictsByFamily[family], outcome.verdict);
    } else if (outcome.verdict !== undefined) {
      bump(report.verdicts, outcome.verdict);
      bump(report.verdictsByFamily[family], outcome.verdict);
      report.durationsMs.push(ms);
    } else {
      bump(report.errors, outcome.error ?? 'unknown');
    }
  };

  await delay(Math.max(0, startAt - Date.now()));
  const skew = Date.now() - startAt;
  if (rate === undefined) {
    // Closed loop: each connection starts its next test as soon as the last one ended, so the server runs flat out.
    const loop = async (): Promise<void> => {
      while (Date.now() < deadline) await runTest();
    };
    await Promise.all(Array.from({ length: concurrency }, loop));
  } else {
    // Open loop: tests start on a fixed schedule whatever the server's pace (up to CONCURRENCY at once), so that the
    // latency measured is that of this load, not of whatever load the server can be pushed to.
    const running = new Set<Promise<void>>();
    for (let k = 0; ; k++) {
      const due = startAt + phaseMs + (k * 1000) / rate;
      if (due >= deadline) break;
      await delay(Math.max(0, due - Date.now()));
      if (running.size >= concurrency) {
        skipped++;
        continue;
      }
      const t = runTest().finally(() => running.delete(t));
      running.add(t);
    }
    await Promise.all(running);
  }
  process.stdout.write(`${JSON.stringify({ ...report, attemptsByFamily: attempts, late, skipped, startSkewMs: skew, cacheFlushes })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`checker-load: ${errorMessage(err)}\n`);
  process.exitCode = 1;
});
