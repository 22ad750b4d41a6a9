/**
 * The relay's changes to its host, owned like the checker engine's: every iptables rule carries the owner comment
 * (pid and start time), so the kernel's own table says whose rules they are. A set whose owner no longer runs is
 * stale and replaced; a set of a running relay is refused. Policy routes cannot carry comments: they live in the
 * relay's own range of rule preferences and routing tables (relay-marks.ts), and go with the iptables set they
 * belong to. Everything here is synchronous, because removal must also run in a process 'exit' handler.
 */
import { splitRuleLine, joinRuleWords } from '../host/iptables-rule-text.js';
import { commandFailure, runCommandSync } from '../host/process-runner.js';
import { currentOwner, ownerIsRunning, parseOwnerComment, sameOwner, type RuleOwner } from '../host/rule-owner.js';
import { forgetOnExit, tearDownOnExit } from '../host/exit-teardown.js';
import { listTable, restoreTable, runXtablesSync, type XtablesProgram } from '../host/xtables.js';
import { IP_FAMILIES, type IpFamily } from '../packet/ip-family.js';
import { errorMessage } from '../util/error-message.js';
import { MAX_PEERS, ROUTE_TABLE_BASE, RULE_PREFERENCE_BASE } from './relay-marks.js';
import { RELAY_CHAINS, type RelayRulePlan } from './relay-rule-plan.js';

const CHAIN_NAMES: readonly string[] = Object.values(RELAY_CHAINS);

export class RelayRulesInUseError extends Error {
  constructor(readonly pid: number) {
    super(`another mtuscope relay (pid ${pid}) runs in this network namespace`);
    this.name = 'RelayRulesInUseError';
  }
}

interface ListedRelaySet {
  readonly chains: readonly string[];
  readonly jumps: readonly string[][];
  readonly owners: readonly RuleOwner[];
}

/** The relay's chains in a mangle listing (`iptables -t mangle -S`), the jumps to them and their owners. */
export function listRelaySet(listing: string): ListedRelaySet | undefined {
  const chains: string[] = [];
  const jumps: string[][] = [];
  const owners: RuleOwner[] = [];
  for (const line of listing.split('\n')) {
    const words = splitRuleLine(line);
    const [command, chain] = words;
    if (chain === undefined) continue;
    if (command === '-N' && CHAIN_NAMES.includes(chain)) chains.push(chain);
    if (command !== '-A') continue;
    const args = words.slice(2);
    const target = args[args.indexOf('-j') + 1];
    const inOurs = CHAIN_NAMES.includes(chain);
    const toOurs = target !== undefined && args.includes('-j') && CHAIN_NAMES.includes(target);
    if (!inOurs && !toOurs) continue;
    if (!inOurs) jumps.push([chain, ...args]);
    const comment = args[args.indexOf('--comment') + 1];
    const owner = args.includes('--comment') && comment !== undefined ? parseOwnerComment(comment) : undefined;
    if (owner !== undefined && !owners.some((o) => sameOwner(o, owner))) owners.push(owner);
  }
  return chains.length === 0 && jumps.length === 0 ? undefined : { chains, jumps, owners };
}

function removalLines(set: ListedRelaySet): string[] {
  return [
    ...set.jumps.map(([chain, ...args]) => joinRuleWords(['-D', chain!, ...args])),
    ...set.chains.flatMap((c) => [joinRuleWords(['-F', c]), joinRuleWords(['-X', c])]),
  ];
}

function runningOwner(set: ListedRelaySet): RuleOwner | undefined {
  return set.owners.find(ownerIsRunning);
}

function ip(args: readonly string[]): string {
  const r = runCommandSync('ip', args);
  if (r.code !== 0) throw commandFailure('', 'ip', args, r);
  return r.stdout;
}

interface JsonRule {
  readonly priority?: number;
}

/** Removes the relay's policy routes: its `ip rule`s by preference, its routing tables by number. */
function removeRoutes(): void {
  const inRange = (n: number | undefined, base: number): boolean => n !== undefined && n >= base && n < base + MAX_PEERS;
  for (const family of IP_FAMILIES) {
    const rules = JSON.parse(ip([`-${family}`, '-j', 'rule', 'show']) || '[]') as JsonRule[];
    for (const rule of rules) if (inRange(rule.priority, RULE_PREFERENCE_BASE)) ip([`-${family}`, 'rule', 'del', 'pref', String(rule.priority)]);
    const routes = JSON.parse(ip([`-${family}`, '-j', 'route', 'show', 'table', 'all']) || '[]') as { table?: string }[];
    const tables = new Set(routes.map((r) => Number(r.table)).filter((t) => inRange(t, ROUTE_TABLE_BASE)));
    for (const table of tables) ip([`-${family}`, 'route', 'flush', 'table', String(table)]);
  }
}

function* replaceFamily(family: IpFamily, lines: readonly string[]): XtablesProgram<boolean> {
  const existing = listRelaySet(yield* listTable(family, 'mangle'));
  const live = existing === undefined ? undefined : runningOwner(existing);
  if (live !== undefined && live.pid !== process.pid) throw new RelayRulesInUseError(live.pid);
  yield* restoreTable(family, 'mangle', [...(existing === undefined ? [] : removalLines(existing)), ...lines]);
  return existing !== undefined;
}

function* removeFamily(family: IpFamily, owner: RuleOwner | undefined): XtablesProgram<boolean> {
  const existing = listRelaySet(yield* listTable(family, 'mangle'));
  if (existing === undefined) return false;
  // Ours, or (owner undefined: a clean-up) nobody's that still runs.
  const mine = owner === undefined ? runningOwner(existing) === undefined : existing.owners.some((o) => sameOwner(o, owner));
  if (!mine) return false;
  yield* restoreTable(family, 'mangle', removalLines(existing));
  return true;
}

export interface InstalledRelayRules {
  readonly owner: RuleOwner;
  /** A set left by a relay that no longer runs was replaced. */
  readonly replacedStale: boolean;
  /**
   * Messages the kernel-side limits kept from the queue (readOverQueueLimit), read just before the rules go when they
   * are gone: a signal's teardown removes them before the summary is written.
   */
  overQueueLimit(): number | undefined;
  removeSync(): void;
}

/**
 * Installs the plan: stale rules and routes of a dead relay go first, a live relay's make it fail
 * (RelayRulesInUseError); routes before the rules that depend on them, each family's rules as one transaction. On
 * failure whatever was added is removed again. The rules are removed on exit and on SIGINT, SIGTERM and SIGHUP; after
 * SIGKILL the next start (or `mtuscope relay --cleanup`) removes them.
 */
/**
 * Throws RelayRulesInUseError when a running relay owns rules in this namespace: checked before anything is touched,
 * since the policy routes carry no owner and removing stale ones would take a live relay's too.
 */
function refuseWhileARelayRuns(): void {
  for (const family of IP_FAMILIES) {
    const existing = listRelaySet(runXtablesSync(listTable(family, 'mangle')));
    const live = existing === undefined ? undefined : runningOwner(existing);
    if (live !== undefined) throw new RelayRulesInUseError(live.pid);
  }
}

export function installRelayRules(plan: RelayRulePlan): InstalledRelayRules {
  const owner = currentOwner();
  let replacedStale = false;
  refuseWhileARelayRuns();
  let removed = false;
  let lastOverQueueLimit: number | undefined;
  const removeSync = (): void => {
    if (removed) return;
    lastOverQueueLimit = readOverQueueLimit();
    const failures: string[] = [];
    for (const family of IP_FAMILIES) {
      try {
        runXtablesSync(removeFamily(family, owner));
      } catch (err) {
        failures.push(errorMessage(err));
      }
    }
    try {
      removeRoutes();
    } catch (err) {
      failures.push(errorMessage(err));
    }
    if (failures.length > 0) throw new Error(failures.join('\n'));
    removed = true;
  };
  const teardown = {
    destroySync(): void {
      try {
        removeSync();
      } catch (err) {
        process.stderr.write(`mtuscope relay: could not remove its rules: ${errorMessage(err)}\n`);
      }
    },
  };
  try {
    removeRoutes();
    for (const command of plan.routes) ip(command);
    for (const family of IP_FAMILIES) {
      if (runXtablesSync(replaceFamily(family, plan.mangle[family]))) replacedStale = true;
    }
  } catch (err) {
    teardown.destroySync();
    throw err;
  }
  tearDownOnExit(teardown);
  return {
    owner,
    replacedStale,
    overQueueLimit: () => (removed ? lastOverQueueLimit : readOverQueueLimit()),
    removeSync(): void {
      removeSync();
      forgetOnExit(teardown);
    },
  };
}

/**
 * Messages the kernel-side limits kept from the queue: the packets counted by the RETURN rules that end the relay's
 * queueing chains (both families), not the one that lets steered messages pass; undefined when a listing cannot be read.
 */
export function readOverQueueLimit(): number | undefined {
  let total = 0;
  for (const tool of ['iptables', 'ip6tables']) {
    for (const chain of [RELAY_CHAINS.pre, RELAY_CHAINS.input]) {
      const r = runCommandSync(tool, ['-w', '-t', 'mangle', '-L', chain, '-v', '-x', '-n']);
      // A chain of the other mode does not exist: nothing to count there.
      if (r.code !== 0) continue;
      for (const line of r.stdout.split('\n')) {
        const f = line.trim().split(/\s+/);
        // The RETURN of messages the kernel steering steered already (a mark match) is not a limit.
        if (f[2] === 'RETURN' && /^\d+$/.test(f[0] ?? '') && !line.includes('mark match')) total += Number(f[0]);
      }
    }
  }
  return Number.isSafeInteger(total) ? total : undefined;
}

/** Removes what a relay that no longer runs left behind (after SIGKILL); returns whether there was anything. */
export function removeStaleRelayRules(): boolean {
  let found = false;
  refuseWhileARelayRuns();
  for (const family of IP_FAMILIES) if (runXtablesSync(removeFamily(family, undefined))) found = true;
  removeRoutes();
  return found;
}
