/**
 * The middlebox trace on a real transport: the thin host layer around MiddleboxTrace (middlebox-trace.ts), which
 * sends through the ProbeTransport and wakes up at the trace's own deadlines. `mtuscope probe` calls
 * traceMiddleboxes; everything it decides is in the pure files.
 */
import { createSocket } from 'node:dgram';
import type { IpFamily } from '../packet/ip-family.js';
import type { MiddleboxTraceResult } from './middlebox-hops.js';
import { middleboxFindings } from './middlebox-findings.js';
import { MiddleboxTrace, type MiddleboxTraceOptions } from './middlebox-trace.js';
import type { ProbeFinding } from './probe-finding.js';
import type { ProbeTransport } from './probe-transport.js';

export interface MiddleboxReport {
  readonly trace: MiddleboxTraceResult;
  readonly findings: readonly ProbeFinding[];
}

export type MiddleboxRunOptions = Omit<MiddleboxTraceOptions, 'srcPort'> & {
  /** Default: a random port in 32768..60999. */
  readonly srcPort?: number;
  /** Our address toward the target; default: the one the kernel's routing picks. */
  readonly source?: string;
};

/**
 * The address the kernel would send from toward `destination`: a UDP socket connected to it (which sends nothing)
 * reports its local address.
 */
export async function sourceAddressFor(destination: string, family: IpFamily): Promise<string> {
  const socket = createSocket(family === 4 ? 'udp4' : 'udp6');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(9, destination, () => resolve());
    });
    return socket.address().address;
  } finally {
    socket.close();
  }
}

/** Traces the path to `target` with TCP SYN probes and reports where on it the probe was changed. */
export async function traceMiddleboxes(
  transport: ProbeTransport,
  target: { readonly address: string; readonly family: IpFamily },
  options: MiddleboxRunOptions = {},
  clock: () => number = () => performance.now(),
): Promise<MiddleboxReport> {
  const source = options.source ?? (await sourceAddressFor(target.address, target.family));
  const srcPort = options.srcPort ?? 32768 + Math.floor(Math.random() * (61000 - 32768));
  let sendError: Error | undefined;
  const trace = new MiddleboxTrace({ family: target.family, source, address: target.address }, { ...options, srcPort }, (packet) => {
    try {
      transport.send(target.family, packet, target.address);
    } catch (err) {
      sendError ??= err instanceof Error ? err : new Error(String(err));
    }
  }, clock);
  const stop = transport.onPacket((received) => trace.onPacket(received));
  try {
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = (): void => {
        trace.poll();
        if (trace.finished || sendError !== undefined) {
          resolve();
          return;
        }
        const at = trace.nextDeadline();
        timer = setTimeout(wake, Math.max(1, Math.min(50, (at ?? clock()) - clock())));
      };
      trace.start();
      wake();
      void timer;
    });
  } finally {
    stop();
  }
  if (sendError !== undefined) throw sendError;
  const result = trace.result();
  return { trace: result, findings: middleboxFindings(result) };
}
