/**
 * The server test's firewall rules: per family, one chain of the filter table, MTUSCOPE-SRVTEST, jumped to from the top
 * of INPUT, queueing to SERVER_TEST_QUEUE only the packets of the URL's host and port that belong to a connection
 * conntrack holds as ESTABLISHED (the server answered our SYN). Every rule is signed with its owner (rule-owner.ts),
 * installed and removed as one iptables-restore transaction per family (xtables.ts), removed on exit and on signals
 * (exit-teardown.ts); a set a killed run left behind is replaced, a set of a run still going is never touched.
 * `--queue-bypass`: if the process dies before removing them, the kernel lets the packets through.
 */
import { forgetOnExit, tearDownOnExit } from '../host/exit-teardown.js';
import { joinRuleWords, splitRuleLine } from '../host/iptables-rule-text.js';
import { currentOwner, ownerComment, ownerIsRunning, parseOwnerComment, sameOwner, type RuleOwner } from '../host/rule-owner.js';
import { listFilterTable, restoreFilterTable, runXtables, runXtablesSync, type XtablesProgram } from '../host/xtables.js';
import type { IpFamily } from '../packet/ip-family.js';

/**
 * The netfilter queue of the server test: one no other part of mtuscope uses (the checker's engine takes its port's
 * number, 8080 by default; the relay 7361).
 */
export const SERVER_TEST_QUEUE = 7362;
export const SERVER_TEST_CHAIN = 'MTUSCOPE-SRVTEST';

export class ServerTestRulesInUseError extends Error {
  constructor(readonly pid: number) {
    super(`another mtuscope probe --server-test (pid ${pid}) is running in this network namespace; its rules and queue ${SERVER_TEST_QUEUE} are in use`);
    this.name = 'ServerTestRulesInUseError';
  }
}

/** What to queue: the server's address in each family tested, and its TCP port. */
export interface ServerTestRuleSpec {
  readonly servers: readonly { readonly family: IpFamily; readonly address: string }[];
  readonly port: number;
  readonly queueNum: number;
}

interface ListedSet {
  /** Lines that remove what there is: jumps first, then the chain. */
  readonly removal: string[];
  readonly owners: RuleOwner[];
}

/** Our chain and the jumps to it, as they stand in a listing; undefined when there is none. */
export function findServerTestRules(listing: string): ListedSet | undefined {
  let chain = false;
  const jumps: string[][] = [];
  const owners: RuleOwner[] = [];
  for (const line of listing.split('\n')) {
    const words = splitRuleLine(line);
    if (words[0] === '-N' && words[1] === SERVER_TEST_CHAIN) chain = true;
    if (words[0] !== '-A') continue;
    const target = words[words.indexOf('-j') + 1];
    const mine = words[1] === SERVER_TEST_CHAIN || target === SERVER_TEST_CHAIN;
    if (!mine) continue;
    if (target === SERVER_TEST_CHAIN) jumps.push(words.slice(1));
    const comment = words[words.indexOf('--comment') + 1];
    const owner = comment === undefined ? undefined : parseOwnerComment(comment);
    if (owner !== undefined && !owners.some((o) => sameOwner(o, owner))) owners.push(owner);
  }
  if (!chain && jumps.length === 0) return undefined;
  return {
    removal: [...jumps.map((j) => joinRuleWords(['-D', ...j])), ...(chain ? [joinRuleWords(['-F', SERVER_TEST_CHAIN]), joinRuleWords(['-X', SERVER_TEST_CHAIN])] : [])],
    owners,
  };
}

export function serverTestInstallLines(spec: ServerTestRuleSpec, family: IpFamily, owner: RuleOwner): string[] {
  const signed = ['-m', 'comment', '--comment', ownerComment(owner)];
  return [
    joinRuleWords(['-N', SERVER_TEST_CHAIN]),
    ...spec.servers
      .filter((s) => s.family === family)
      .map((s) =>
        joinRuleWords([
          '-A', SERVER_TEST_CHAIN, '-p', 'tcp', '-s', s.address, '--sport', String(spec.port),
          '-m', 'conntrack', '--ctstate', 'ESTABLISHED',
          ...signed, '-j', 'NFQUEUE', '--queue-num', String(spec.queueNum), '--queue-bypass',
        ]),
      ),
    joinRuleWords(['-I', 'INPUT', '1', ...signed, '-j', SERVER_TEST_CHAIN]),
  ];
}

function* install(spec: ServerTestRuleSpec, family: IpFamily, owner: RuleOwner): XtablesProgram<void> {
  const existing = findServerTestRules(yield* listFilterTable(family));
  const live = existing?.owners.find(ownerIsRunning);
  if (live !== undefined) throw new ServerTestRulesInUseError(live.pid);
  yield* restoreFilterTable(family, [...(existing?.removal ?? []), ...serverTestInstallLines(spec, family, owner)]);
}

function* remove(families: readonly IpFamily[], owner: RuleOwner): XtablesProgram<void> {
  for (const family of families) {
    const existing = findServerTestRules(yield* listFilterTable(family));
    if (existing === undefined || !existing.owners.some((o) => sameOwner(o, owner))) continue;
    yield* restoreFilterTable(family, existing.removal);
  }
}

export interface InstalledServerTestRules {
  readonly families: readonly IpFamily[];
  remove(): Promise<void>;
}

/** Installs the rules of every family in `spec.servers` (all or none), removed on exit and signals until remove(). */
export async function installServerTestRules(spec: ServerTestRuleSpec): Promise<InstalledServerTestRules> {
  const owner = currentOwner();
  const families = [...new Set(spec.servers.map((s) => s.family))];
  const done: IpFamily[] = [];
  const teardown = { destroySync: () => runXtablesSync(remove(done, owner)) };
  tearDownOnExit(teardown);
  try {
    for (const family of families) {
      await runXtables(install(spec, family, owner));
      done.push(family);
    }
  } catch (err) {
    await runXtables(remove(done, owner)).catch(() => undefined);
    forgetOnExit(teardown);
    throw err;
  }
  return {
    families,
    remove: async () => {
      await runXtables(remove(done, owner));
      forgetOnExit(teardown);
    },
  };
}

/** Removes the rules of a run that no longer runs (killed with SIGKILL); true when there were some. */
export function removeStaleServerTestRules(): boolean {
  let removed = false;
  for (const family of [4, 6] as const) {
    runXtablesSync(
      (function* (): XtablesProgram<void> {
        const existing = findServerTestRules(yield* listFilterTable(family));
        if (existing === undefined || existing.owners.some(ownerIsRunning)) return;
        removed = true;
        yield* restoreFilterTable(family, existing.removal);
      })(),
    );
  }
  return removed;
}
