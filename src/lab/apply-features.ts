/**
 * A node's middle-box features as iptables-restore input, one text per family, applied inside the node's namespace
 * (so the rules die with it).
 *
 * Fragment dropping is a plain filter-table rule in FORWARD: the u32 match on the IPv4 flags/offset word (MF set or a
 * non-zero offset, so first fragments too) and the ip6tables `frag` match (any Fragment header). That only works while
 * connection tracking is inactive in the namespace: conntrack reassembles fragments in PREROUTING at priority -400,
 * before any iptables table (raw is -300), and the forwarding path refragments them after POSTROUTING, so no rule
 * ever sees a fragment. Masquerading (the nat table) activates conntrack, hence `checkFeatures` refuses dropFragments
 * together with masquerade on one node: put the NAT on a neighbouring node instead (a real firewall behind a NAT).
 * Verified in test/lab/lab.test.ts ("dropFragments").
 */
import { PACKET_TOO_BIG_MATCH } from '../host/iptables-matches.js';
import { FRAGMENT_MATCH, restoreRule } from './iptables-matches.js';
import type { PlannedNode } from './plan.js';
import { shellSafeToken } from './tokens.js';
import { DROP_FRAGMENTS_WITH_NAT } from './validate.js';

export interface IptablesInput {
  readonly v4: string | undefined;
  readonly v6: string | undefined;
}

export function checkFeatures(node: PlannedNode): void {
  if (node.dropFragments && node.masquerade.length > 0) {
    throw new Error(`node ${node.name}: dropFragments ${DROP_FRAGMENTS_WITH_NAT}`);
  }
  if (node.clampMss !== undefined && (!Number.isInteger(node.clampMss) || node.clampMss < 88 || node.clampMss > 65495)) {
    throw new Error(`node ${node.name}: clampMss ${node.clampMss} is not an MSS (88-65495)`);
  }
}

function tables(sections: ReadonlyMap<string, readonly string[]>): string | undefined {
  let out = '';
  for (const [table, rules] of sections) {
    if (rules.length === 0) continue;
    out += `*${table}\n${rules.join('\n')}\nCOMMIT\n`;
  }
  return out === '' ? undefined : out;
}

export function iptablesInput(node: PlannedNode): IptablesInput {
  const filter4: string[] = [];
  const filter6: string[] = [];
  const mangle4: string[] = [];
  const mangle6: string[] = [];
  const nat4: string[] = [];
  const nat6: string[] = [];
  if (node.dropPacketTooBig) {
    // FORWARD for errors from routers behind this one, OUTPUT for the errors this node generates itself.
    for (const chain of ['FORWARD', 'OUTPUT']) {
      filter4.push(restoreRule(['-A', chain, ...PACKET_TOO_BIG_MATCH[4], '-j', 'DROP']));
      filter6.push(restoreRule(['-A', chain, ...PACKET_TOO_BIG_MATCH[6], '-j', 'DROP']));
    }
  }
  if (node.dropFragments) {
    filter4.push(restoreRule(['-A', 'FORWARD', ...FRAGMENT_MATCH[4], '-j', 'DROP']));
    filter6.push(restoreRule(['-A', 'FORWARD', ...FRAGMENT_MATCH[6], '-j', 'DROP']));
  }
  if (node.clampMss !== undefined) {
    const rule = `-A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss ${node.clampMss}`;
    mangle4.push(rule);
    mangle6.push(rule);
  }
  for (const ifname of node.masquerade) {
    const rule = `-A POSTROUTING -o ${shellSafeToken(ifname, `node ${node.name}: masquerade interface`)} -j MASQUERADE`;
    nat4.push(rule);
    nat6.push(rule);
  }
  return {
    v4: tables(new Map([['filter', filter4], ['mangle', mangle4], ['nat', nat4]])),
    v6: tables(new Map([['filter', filter6], ['mangle', mangle6], ['nat', nat6]])),
  };
}
