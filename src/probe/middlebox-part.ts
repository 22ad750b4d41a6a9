/**
 * Middlebox detection as a part of `mtuscope probe` (unless `--no-middlebox`): after each family's hop trace, the TCP SYN trace of
 * middlebox-trace.ts toward the target's port (the `--port` of a TCP run, else 80), with the run's timeouts and tries,
 * within what is left of its time. Its findings join the diagnosis; its hop table and probe go under
 * `families[].parts.middlebox` in the JSON report.
 */
import { traceMiddleboxes } from './middlebox-run.js';
import type { ProbeJson, ProbePart } from './probe-part.js';

export const middleboxPart: ProbePart = {
  name: 'middlebox',
  enabled: (options) => options['no-middlebox'] !== true,
  async run(context) {
    let srcPort = 32768 + Math.floor(Math.random() * (61000 - 32768));
    if (srcPort === context.flow.srcPort) srcPort++;
    const timeLimitMs = Math.max(1, context.deadlineMs - performance.now());
    context.progress(`IPv${context.family}: looking for middleboxes with TCP SYN probes`);
    const report = await traceMiddleboxes(
      context.transport,
      { address: context.destination, family: context.family },
      {
        source: context.route.source,
        srcPort,
        dstPort: context.protocol === 'tcp' ? context.port : 80,
        maxHops: context.trace.destinationHop ?? 30,
        replyTimeoutMs: context.probeTimeoutMs,
        triesPerHop: context.tries,
        timeLimitMs,
      },
    );
    return { findings: report.findings, json: JSON.parse(JSON.stringify(report.trace)) as ProbeJson };
  },
};
