/**
 * The cooperating server as a part of `mtuscope probe`: after each family's hop trace, the UDP responder's scenarios 2
 * and 4 and the checker's HTTP tests against `mtuscope serve` on the target's `--server-port`
 * (cooperating-server.ts), within what is left of the run's time. A target without a server costs the unanswered
 * hellos (tries x probe timeout) and says so in a finding; `--no-server` skips the part.
 */
import { runCooperatingServer } from './cooperating-server.js';
import type { ProbeJson, ProbePart } from './probe-part.js';

export const DEFAULT_SERVER_PORT = 8080;

/**
 * How long to wait for the responder's answers: as the trace waits once round-trip times are known (four times the
 * largest plus 50 ms, at least 250 ms, at most the user's probe timeout), so that a target without a server costs a
 * fraction of a second rather than tries x the probe timeout.
 */
export function answerWaitMs(probeTimeoutMs: number, rttsMs: readonly (number | undefined)[] = []): number {
  const known = rttsMs.filter((r): r is number => r !== undefined);
  if (known.length === 0) return probeTimeoutMs;
  return Math.min(probeTimeoutMs, Math.max(250, Math.ceil(4 * Math.max(...known) + 50)));
}

export const cooperatingServerPart: ProbePart = {
  name: 'server',
  enabled: (options) => options['no-server'] !== true,
  async run(context) {
    const text = context.options['server-port'];
    const port = typeof text === 'string' ? Number(text) : DEFAULT_SERVER_PORT;
    const leftMs = Math.max(1, context.deadlineMs - performance.now());
    const report = await runCooperatingServer(
      { address: context.destination, family: context.family, port },
      {
        tries: context.tries,
        waitMs: answerWaitMs(context.probeTimeoutMs, context.trace.hops.map((h) => h.rttMs)),
        httpTimeoutMs: leftMs,
        // The Packet Too Big the server sends on request comes in through the run's raw ICMP sockets.
        transport: context.transport,
      },
      (line) => context.progress(`IPv${context.family}: ${line}`),
    );
    return { findings: report.findings, json: JSON.parse(JSON.stringify(report)) as ProbeJson };
  },
};
