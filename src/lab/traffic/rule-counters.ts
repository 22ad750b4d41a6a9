/**
 * Packet counts from iptables rule counters inside a lab node. The kernel counts every packet a rule matches, so a
 * counter read after some traffic says exactly how many of its packets reached that point (a capture started just
 * before the traffic can miss the first ones). Counting rules have no target and change nothing; the counters of a
 * node's own rules (a firewall's DROP) say what those rules did.
 */
import { IP_FAMILIES, type FamilyMap, type IpFamily } from '../../packet/ip-family.js';
import type { LabNodes } from './lab-nodes.js';

type Exec = Pick<LabNodes, 'exec'>;

export interface RuleCounter {
  /** The rule as `iptables -S` prints it, without its counters: `-A FORWARD -m frag -j DROP`. */
  readonly rule: string;
  readonly packets: number;
}

const TOOL: FamilyMap<string> = { 4: 'iptables', 6: 'ip6tables' };

/** The rules of `chain` in an `iptables -v -S` listing (`-A CHAIN ... -c PACKETS BYTES [-j TARGET]`). */
export function parseRuleCounters(listing: string, chain: string): RuleCounter[] {
  const rules: RuleCounter[] = [];
  for (const line of listing.split('\n')) {
    if (!line.startsWith(`-A ${chain} `)) continue;
    const counters = / -c (\d+) \d+/.exec(line);
    if (counters === null) throw new Error(`no counters in iptables rule "${line}"`);
    rules.push({ rule: line.replace(counters[0], ''), packets: Number(counters[1]) });
  }
  return rules;
}

async function run(lab: Exec, node: string, argv: readonly string[]): Promise<string> {
  const r = await lab.exec(node, argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} on ${node}: ${r.stderr.trim() || `exit status ${String(r.code)}`}`);
  return r.stdout;
}

/** The rules of a chain of a node's filter table, each with the packets it has matched. */
export async function ruleCounters(lab: Exec, node: string, family: IpFamily, chain: string): Promise<RuleCounter[]> {
  return parseRuleCounters(await run(lab, node, [TOOL[family], '-w', '-v', '-S', chain]), chain);
}

/** Packets the rules of `chain` whose target is `target` have matched, e.g. what a firewall's DROP rules dropped. */
export async function packetsTo(lab: Exec, node: string, family: IpFamily, chain: string, target: string): Promise<number> {
  const rules = await ruleCounters(lab, node, family, chain);
  return rules.filter((r) => r.rule.endsWith(` -j ${target}`)).reduce((n, r) => n + r.packets, 0);
}

export interface PacketCounter {
  /** Packets counted since the counting rules went in, per family. */
  read(): Promise<FamilyMap<number>>;
}

/**
 * Counts the packets of each family that match `match[family]` in `chain` of `node`, with a rule inserted at the top of
 * the chain (so it sees them before any rule of the node decides their fate) and tagged `mtuscope-<name>`.
 */
export async function countPackets(lab: Exec, node: string, chain: string, name: string, match: FamilyMap<readonly string[]>): Promise<PacketCounter> {
  const tag = `mtuscope-${name}`;
  for (const family of IP_FAMILIES) {
    await run(lab, node, [TOOL[family], '-w', '-I', chain, ...match[family], '-m', 'comment', '--comment', tag]);
  }
  const readOne = async (family: IpFamily): Promise<number> => {
    const mine = (await ruleCounters(lab, node, family, chain)).filter((r) => r.rule.split(' ').includes(tag));
    if (mine.length !== 1) throw new Error(`${TOOL[family]} on ${node}: ${mine.length} counting rules tagged ${tag} in ${chain}`);
    return mine[0]!.packets;
  };
  return {
    read: async () => ({ 4: await readOne(4), 6: await readOne(6) }),
  };
}
