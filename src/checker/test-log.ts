import { familyName, familyOfAddress } from '../packet/ip-family.js';
import type { LogFields } from './service-log.js';
import type { CheckerTest, Verdict } from './test-result.js';
import { truncateAddress } from './truncate-address.js';

/** One test request as the service's log tells it; `verdict` is set once the test has one. */
export interface TestRun {
  readonly test: CheckerTest;
  /** As the engine knows it: an IPv4 client of a dual-stack socket is plain IPv4 here. */
  readonly client: string;
  readonly startedAt: Date;
  verdict: Verdict | undefined;
}

/** The HTTP answer as it went out: its status, and whether it was sent whole (a /frag answer can be cut short). */
export interface AnswerStatus {
  readonly code: number;
  readonly complete: boolean;
}

/**
 * The log line of one test: `2025-05-01T12:00:00.000Z client=10.0.1.1 test=icmp verdict=pass status=200 duration=1234ms`.
 * `verdict=none` when the test ended without one (refused, failed, cut short), `status=none` when no answer went out,
 * `status=200-incomplete` for an answer cut short. With `truncateClient` the client is its network, as the store keeps it.
 */
export function testLogLine(run: TestRun, status: AnswerStatus | undefined, durationMs: number, truncateClient: boolean): string {
  const statusText = status === undefined ? 'none' : `${status.code}${status.complete ? '' : '-incomplete'}`;
  return [
    run.startedAt.toISOString(),
    `client=${clientForLog(run.client, truncateClient)}`,
    `test=${run.test}`,
    `verdict=${run.verdict ?? 'none'}`,
    `status=${statusText}`,
    `duration=${Math.round(durationMs)}ms`,
  ].join(' ');
}

/**
 * The same test as the structured fields of a JSON log line: `startedAt`, `client` (as in the text line), `family`,
 * `test`, `verdict` (null without one), `status` (the HTTP status, null when no answer went out), `complete` (false for
 * an answer cut short) and `durationMs`.
 */
export function testLogFields(run: TestRun, status: AnswerStatus | undefined, durationMs: number, truncateClient: boolean): LogFields {
  return {
    startedAt: run.startedAt.toISOString(),
    client: clientForLog(run.client, truncateClient),
    family: run.client === '' ? null : familyName(familyOfAddress(run.client)),
    test: run.test,
    verdict: run.verdict ?? null,
    status: status?.code ?? null,
    complete: status?.complete ?? null,
    durationMs: Math.round(durationMs),
  };
}

/** The client as the log names it: its network when the service truncates addresses, `unknown` when there is none. */
export function clientForLog(client: string, truncate: boolean): string {
  if (!truncate) return client || 'unknown';
  try {
    return truncateAddress(client, familyOfAddress(client));
  } catch {
    // Not an address (the socket was gone before its peer was known): nothing to hide.
    return 'unknown';
  }
}
