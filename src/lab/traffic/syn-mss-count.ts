/**
 * Counts the TCP SYNs reaching a node, and those carrying a given MSS, with counting-only iptables rules in its INPUT
 * chain: shows what a clamping router in between did to them. Kernel counters see every packet (a capture started
 * just before the traffic can miss the first one), and rules without a target change nothing.
 */
import type { LabNodes } from './lab-nodes.js';

export interface SynCount {
  readonly syns: number;
  readonly withMss: number;
}

const TOOLS = ['iptables', 'ip6tables'] as const;

function rules(port: number, mss: number): string[][] {
  const base = ['-p', 'tcp', '--dport', String(port), '--syn'];
  return [base, [...base, '-m', 'tcpmss', '--mss', String(mss)]];
}

export async function countSynMss(lab: Pick<LabNodes, 'exec'>, node: string, port: number, mss: number): Promise<{ read(): Promise<SynCount> }> {
  for (const tool of TOOLS) {
    for (const rule of rules(port, mss)) {
      const r = await lab.exec(node, [tool, '-A', 'INPUT', ...rule]);
      if (r.code !== 0) throw new Error(`${tool} on ${node}: ${r.stderr.trim()}`);
    }
  }
  return {
    read: async () => {
      let syns = 0;
      let withMss = 0;
      for (const tool of TOOLS) {
        const r = await lab.exec(node, [tool, '-L', 'INPUT', '-n', '-v', '-x']);
        for (const line of r.stdout.split('\n')) {
          if (!line.includes(`dpt:${port}`)) continue;
          const packets = Number(line.trim().split(/\s+/)[0]);
          if (line.includes(`tcpmss match ${mss}`)) withMss += packets;
          else syns += packets;
        }
      }
      return { syns, withMss };
    },
  };
}
