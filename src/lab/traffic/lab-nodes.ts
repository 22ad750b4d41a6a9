import { familyOfAddress } from '../../packet/ip-family.js';
import type { LabProcess, RunningLab } from '../running-lab.js';

/** The part of a lab that traffic helpers need: running commands inside its nodes. */
export type LabNodes = Pick<RunningLab, 'exec' | 'spawn'>;

/** A node script of ours that listens on a port: an HTTP server, a UDP sink or responder. */
export interface Listener {
  readonly node: string;
  readonly process: LabProcess;
  stop(): Promise<void>;
}

/** Starts `script` (node -e) in `node` with the port (and `args`) as its arguments, and waits until it prints "ready". */
export async function startListener(lab: LabNodes, node: string, script: string, port: number, args: readonly string[] = []): Promise<Listener> {
  const proc = lab.spawn(node, ['node', '-e', script, String(port), ...args]);
  await proc.waitForOutput(/^ready$/m, 10_000);
  return {
    node,
    process: proc,
    stop: async () => {
      await proc.stop('SIGTERM', 1000);
    },
  };
}

/** `host:port` with IPv6 addresses in brackets, as URLs need. */
export function hostPort(address: string, port: number): string {
  return familyOfAddress(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}
