/**
 * Counts the TCP SYNs passing a point of a node (its INPUT or OUTPUT chain), and those carrying a given MSS, with
 * counting rules: shows what a clamping router in between did to them.
 */
import { familyMap, type FamilyMap } from '../../packet/ip-family.js';
import type { LabNodes } from './lab-nodes.js';
import { countPackets } from './rule-counters.js';

export interface SynCount {
  readonly syns: number;
  readonly withMss: number;
}

/** Counts SYNs to `port` in `chain`, and those of them whose MSS option is `mss[family]`. */
export async function countSynMss(
  lab: Pick<LabNodes, 'exec'>,
  node: string,
  chain: 'INPUT' | 'OUTPUT',
  port: number,
  mss: FamilyMap<number>,
): Promise<{ read(): Promise<FamilyMap<SynCount>> }> {
  const syn = ['-p', 'tcp', '--dport', String(port), '--syn'];
  const syns = await countPackets(lab, node, chain, `syn-${port}`, { 4: syn, 6: syn });
  const withMss = await countPackets(lab, node, chain, `syn-${port}-mss`, familyMap((f) => [...syn, '-m', 'tcpmss', '--mss', String(mss[f])]));
  return {
    read: async () => {
      const [all, clamped] = [await syns.read(), await withMss.read()];
      return familyMap((f) => ({ syns: all[f], withMss: clamped[f] }));
    },
  };
}
