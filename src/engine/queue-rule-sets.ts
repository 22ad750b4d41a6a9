/**
 * The engine's rule sets as they stand in a filter table listing (`iptables -S`): per port, the chains
 * MTUSCOPE-IN-<port> and MTUSCOPE-OUT-<port>, the rules in them, the jumps to them from elsewhere, and the owners
 * their comments name. Parsed from the kernel's table every time, so it describes what is there, whoever put it there.
 */
import { splitRuleLine } from '../host/iptables-rule-text.js';
import { parseOwnerComment, sameOwner, type RuleOwner } from '../host/rule-owner.js';

const CHAIN = /^MTUSCOPE-(?:IN|OUT)-([1-9]\d{0,4})$/;

export interface QueueChainNames {
  /** Holds the NFQUEUE rule for packets to the port; jumped to from INPUT. */
  readonly input: string;
  /** Holds the NFQUEUE rule for packets from the port; jumped to from OUTPUT. */
  readonly output: string;
}

export function queueChainNames(port: number): QueueChainNames {
  return { input: `MTUSCOPE-IN-${port}`, output: `MTUSCOPE-OUT-${port}` };
}

export interface ListedRule {
  readonly chain: string;
  /** The words after `-A <chain>`, enough to delete this very rule with `-D <chain> ...`. */
  readonly args: readonly string[];
  readonly target: string | undefined;
  readonly comment: string | undefined;
}

export interface QueueRuleSet {
  readonly port: number;
  /** Those of the two chains that exist. */
  readonly chains: readonly string[];
  readonly rules: readonly ListedRule[];
  /** Rules in other chains that jump (or go) to this set's chains. */
  readonly jumps: readonly ListedRule[];
  /** Distinct owners named by the comments; empty for a set nobody signed (made by hand, or by something else). */
  readonly owners: readonly RuleOwner[];
}

function portOfChain(chain: string): number | undefined {
  const m = CHAIN.exec(chain);
  const port = m === null ? undefined : Number(m[1]);
  return port !== undefined && port <= 65535 ? port : undefined;
}

function valueAfter(words: readonly string[], flags: readonly string[]): string | undefined {
  const i = words.findIndex((w) => flags.includes(w));
  return i < 0 ? undefined : words[i + 1];
}

interface SetUnderConstruction {
  chains: string[];
  rules: ListedRule[];
  jumps: ListedRule[];
}

export function listQueueRuleSets(listing: string): QueueRuleSet[] {
  const sets = new Map<number, SetUnderConstruction>();
  const setOf = (port: number): SetUnderConstruction => {
    let set = sets.get(port);
    if (set === undefined) {
      set = { chains: [], rules: [], jumps: [] };
      sets.set(port, set);
    }
    return set;
  };
  for (const line of listing.split('\n')) {
    const words = splitRuleLine(line);
    const [command, chain] = words;
    if (chain === undefined) continue;
    if (command === '-N') {
      const port = portOfChain(chain);
      if (port !== undefined) setOf(port).chains.push(chain);
    } else if (command === '-A') {
      const args = words.slice(2);
      const rule: ListedRule = { chain, args, target: valueAfter(args, ['-j', '--jump', '-g', '--goto']), comment: valueAfter(args, ['--comment']) };
      const ownPort = portOfChain(chain);
      const targetPort = rule.target === undefined ? undefined : portOfChain(rule.target);
      if (ownPort !== undefined) setOf(ownPort).rules.push(rule);
      else if (targetPort !== undefined) setOf(targetPort).jumps.push(rule);
    }
  }
  return [...sets].map(([port, set]) => {
    const owners: RuleOwner[] = [];
    for (const rule of [...set.rules, ...set.jumps]) {
      const owner = rule.comment === undefined ? undefined : parseOwnerComment(rule.comment);
      if (owner !== undefined && !owners.some((o) => sameOwner(o, owner))) owners.push(owner);
    }
    return { port, ...set, owners };
  });
}

export function findQueueRuleSet(listing: string, port: number): QueueRuleSet | undefined {
  return listQueueRuleSets(listing).find((s) => s.port === port);
}
