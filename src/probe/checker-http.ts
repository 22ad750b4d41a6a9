/**
 * The checker's HTTP tests run from the prober's host (Node's http client): POST /icmp with the article's 8100-byte
 * payload (scenario 1), GET /download (scenario 3) and GET /frag (scenario 4 over TCP), each with `?format=json`, each
 * on a connection of its own (the server reads the test from a connection's first request line). The verdicts and
 * their JSON are docs/verdicts.md.
 */
import { request } from 'node:http';
import type { IpFamily } from '../packet/ip-family.js';
import { errorMessage } from '../util/error-message.js';
import type { CheckerHttpTest, HttpTestOutcome } from './cooperating-server-verdict.js';

/** The article's payload: 45 bytes x 180 = 8100 bytes, well above the server's 4096-byte least body. */
export const ICMP_TEST_BODY = 'packettoolongyaithuji6reeNab4XahChaeRah1diej4'.repeat(180);

export interface HttpTarget {
  readonly address: string;
  readonly family: IpFamily;
  readonly port: number;
}

/** The JSON answer's fields this client reads. */
interface AnsweredJson {
  readonly verdict?: unknown;
  readonly resultUrl?: unknown;
  readonly error?: unknown;
}

/** One test; never rejects (a failure is the outcome's `error`). */
export function runHttpTest(target: HttpTarget, test: CheckerHttpTest, timeoutMs: number): Promise<HttpTestOutcome> {
  const started = performance.now();
  const post = test === 'icmp';
  return new Promise((resolve) => {
    let settled = false;
    const done = (o: Omit<HttpTestOutcome, 'test' | 'ms'>): void => {
      if (settled) return;
      settled = true;
      resolve({ test, ms: Math.round(performance.now() - started), ...o });
    };
    const req = request(
      {
        host: target.address,
        family: target.family,
        port: target.port,
        path: `/${test}?format=json`,
        method: post ? 'POST' : 'GET',
        headers: post ? { 'Content-Type': 'application/octet-stream', 'Content-Length': String(ICMP_TEST_BODY.length) } : {},
        agent: false,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => done({ error: `the answer broke off: ${errorMessage(err)}` }));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: AnsweredJson;
          try {
            parsed = JSON.parse(text) as AnsweredJson;
          } catch {
            done({ error: `HTTP ${res.statusCode ?? 0}, not JSON: ${text.slice(0, 120)}` });
            return;
          }
          if (typeof parsed.verdict !== 'string') {
            done({ error: `HTTP ${res.statusCode ?? 0}: ${typeof parsed.error === 'string' ? parsed.error : 'no verdict in the answer'}` });
            return;
          }
          done({ verdict: parsed.verdict, ...(typeof parsed.resultUrl === 'string' ? { resultUrl: parsed.resultUrl } : {}) });
        });
      },
    );
    req.on('timeout', () => {
      done({ error: `no complete answer within ${Math.round(timeoutMs / 1000)} s` });
      req.destroy();
    });
    req.on('error', (err) => done({ error: errorMessage(err) }));
    // The head goes in a packet of its own, as curl sends it: written together with the body it would ride in the
    // first full-size segment, and behind a black hole on this side the server would never learn that JSON was asked for.
    if (post) req.flushHeaders();
    req.end(post ? ICMP_TEST_BODY : undefined);
  });
}
