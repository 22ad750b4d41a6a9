/**
 * Runs inside a lab node (`node transport-harness.js JSON`): opens a ProbeTransport, sends the probes the JSON asks
 * for, collects what comes back for `waitMs`, classifies it and prints one JSON line. The transport's lab test drives it.
 */
import { type ProbeFlow, buildProbe, type ProbeSpec } from '../../src/probe/probe-packets.js';
import { classifyReply, type ProbeReply } from '../../src/probe/probe-reply.js';
import { ProbeTransport } from '../../src/probe/probe-transport.js';
import { errorMessage } from '../../src/util/error-message.js';

export interface HarnessRequest {
  readonly flow: ProbeFlow;
  readonly probes: readonly ProbeSpec[];
  readonly waitMs: number;
  readonly honourCachedPathMtu?: boolean;
}

export interface HarnessReply {
  readonly sendErrors: readonly string[];
  readonly replies: readonly Exclude<ProbeReply, { kind: 'unrelated' }>[];
}

async function main(): Promise<void> {
  const request = JSON.parse(process.argv[2] ?? '{}') as HarnessRequest;
  const transport = ProbeTransport.open({ ...(request.honourCachedPathMtu === true ? { honourCachedPathMtu: true } : {}) });
  const sizes = new Map(request.probes.map((p) => [p.id, { size: p.size }]));
  const replies: Exclude<ProbeReply, { kind: 'unrelated' }>[] = [];
  transport.onPacket((received) => {
    const r = classifyReply(received, request.flow, (id) => sizes.get(id));
    if (r.ok && r.value.kind !== 'unrelated') replies.push(r.value);
  });
  const sendErrors: string[] = [];
  for (const spec of request.probes) {
    try {
      transport.send(request.flow.family, buildProbe(request.flow, spec), request.flow.destination);
    } catch (err) {
      sendErrors.push(errorMessage(err));
    }
  }
  await new Promise((resolve) => setTimeout(resolve, request.waitMs));
  transport.close();
  const out: HarnessReply = { sendErrors, replies };
  process.stdout.write(JSON.stringify(out, (k, v: unknown) => (k === 'quoted' ? undefined : v)) + '\n');
}

await main();
