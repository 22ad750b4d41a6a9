/**
 * The firewall rules that bring the packets of the service's TCP port to the engine: per family, two chains of the
 * filter table (MTUSCOPE-IN-<port> and MTUSCOPE-OUT-<port>) holding NFQUEUE rules, jumped to from the top of INPUT
 * and OUTPUT. Every rule is signed with its owner (pid and start time, see rule-owner.ts), so that a set left behind by
 * a killed process is recognised as stale and replaced, while a set of a process still running is never touched.
 *
 * Each change is one iptables-restore transaction per family (see xtables.ts): the stale set goes and the fresh one
 * comes in the same batch, and a batch that loses a race with another process is rejected whole.
 */
import { forgetOnExit, tearDownOnExit } from '../host/exit-teardown.js';
import { validateQueueRuleSpec, type CheckedQueueRuleSpec, type QueueRuleSpec } from './queue-rule-spec.js';
import { installLines, removalLines } from './queue-rule-script.js';
import { findQueueRuleSet, listQueueRuleSets, queueChainNames, type QueueChainNames, type QueueRuleSet } from './queue-rule-sets.js';
import { currentOwner, ownerIsRunning, sameOwner, type RuleOwner } from '../host/rule-owner.js';
import {
  listFilterTable,
  restoreFilterTable,
  runXtables,
  runXtablesSync,
  XtablesCommandError,
  type XtablesProgram,
} from '../host/xtables.js';
import { errorMessage } from '../util/error-message.js';
import { IP_FAMILIES, type IpFamily } from '../packet/ip-family.js';

export type { QueueRuleSpec } from './queue-rule-spec.js';
export { QueueRuleSpecError, validateQueueRuleSpec } from './queue-rule-spec.js';
export type { RuleOwner } from '../host/rule-owner.js';
export { XtablesCommandError } from '../host/xtables.js';

/** A rule set whose owner is gone (or that names no owner at all). */
export interface StaleQueueRules {
  readonly family: IpFamily;
  readonly port: number;
  /** The owner its comments name; null when no rule of the set is signed. */
  readonly pid: number | null;
}

export class QueueRulesInUseError extends Error {
  constructor(
    readonly port: number,
    readonly pid: number,
  ) {
    super(`port ${port} is already served by mtuscope pid ${pid}`);
    this.name = 'QueueRulesInUseError';
  }
}

export interface InstalledQueueRules {
  readonly port: number;
  readonly queueNum: number;
  readonly mark: number;
  readonly families: readonly IpFamily[];
  readonly chains: QueueChainNames;
  readonly owner: RuleOwner;
  /** True when a set left by a process that no longer runs was removed to make room for this one. */
  readonly replacedStale: boolean;
  readonly replaced: readonly StaleQueueRules[];
  /** True once remove() or removeSync() has succeeded. */
  readonly removed: boolean;
  /** Removes this owner's jumps and chains; nothing happens for what is already gone or belongs to someone else. */
  remove(): Promise<void>;
  /** The same, synchronously, for process 'exit' handlers. */
  removeSync(): void;
}

/** Tries of one change when the table keeps changing under it (other processes installing or removing). */
const MAX_ATTEMPTS = 3;

function runningOwner(set: QueueRuleSet): RuleOwner | undefined {
  return set.owners.find(ownerIsRunning);
}

function staleEntry(set: QueueRuleSet, family: IpFamily): StaleQueueRules {
  return { family, port: set.port, pid: set.owners[0]?.pid ?? null };
}

/**
 * Runs `change` on a fresh listing; if its batch is rejected and the table has changed since it looked, someone
 * else was changing it at the same moment: look again and retry. An unchanged table means the failure is real.
 */
function* retryingOnRace<T>(family: IpFamily, change: (listing: string) => XtablesProgram<T>): XtablesProgram<T> {
  let listing = yield* listFilterTable(family);
  for (let attempt = 1; ; attempt++) {
    try {
      return yield* change(listing);
    } catch (err) {
      if (!(err instanceof XtablesCommandError)) throw err;
      const now = yield* listFilterTable(family);
      if (now === listing || attempt >= MAX_ATTEMPTS) throw err;
      listing = now;
    }
  }
}

function* installFamily(spec: CheckedQueueRuleSpec, family: IpFamily, owner: RuleOwner): XtablesProgram<StaleQueueRules | undefined> {
  return yield* retryingOnRace(family, function* (listing) {
    const existing = findQueueRuleSet(listing, spec.port);
    const live = existing === undefined ? undefined : runningOwner(existing);
    if (live !== undefined) throw new QueueRulesInUseError(spec.port, live.pid);
    yield* restoreFilterTable(family, [...(existing === undefined ? [] : removalLines(existing)), ...installLines(spec, family, owner)]);
    return existing === undefined ? undefined : staleEntry(existing, family);
  });
}

function* removeOwned(port: number, families: readonly IpFamily[], owner: RuleOwner): XtablesProgram<void> {
  const failures: unknown[] = [];
  for (const family of families) {
    try {
      yield* retryingOnRace(family, function* (listing) {
        const set = findQueueRuleSet(listing, port);
        // Gone already, or replaced by another owner after ours was judged stale: nothing of ours to remove.
        if (set === undefined || !set.owners.some((o) => sameOwner(o, owner))) return;
        yield* restoreFilterTable(family, removalLines(set));
      });
    } catch (err) {
      failures.push(err);
    }
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) throw new AggregateError(failures, failures.map((f) => (errorMessage(f))).join('\n'));
}

function* installAll(spec: CheckedQueueRuleSpec, owner: RuleOwner): XtablesProgram<StaleQueueRules[]> {
  const installed: IpFamily[] = [];
  const replaced: StaleQueueRules[] = [];
  try {
    for (const family of spec.families) {
      const stale = yield* installFamily(spec, family, owner);
      installed.push(family);
      if (stale !== undefined) replaced.push(stale);
    }
  } catch (err) {
    // All families or none: take back what the earlier families got.
    try {
      yield* removeOwned(spec.port, installed, owner);
    } catch (rollbackErr) {
      const said = (e: unknown): string => (errorMessage(e));
      throw new AggregateError([err, rollbackErr], `${said(err)}\nremoving the rules already installed failed too: ${said(rollbackErr)}`, {
        cause: rollbackErr,
      });
    }
    throw err;
  }
  return replaced;
}

class InstalledQueueRuleSet implements InstalledQueueRules {
  private removedYet = false;

  constructor(
    private readonly spec: CheckedQueueRuleSpec,
    readonly owner: RuleOwner,
    readonly replaced: readonly StaleQueueRules[],
  ) {}

  get port(): number {
    return this.spec.port;
  }

  get queueNum(): number {
    return this.spec.queueNum;
  }

  get mark(): number {
    return this.spec.mark;
  }

  get families(): readonly IpFamily[] {
    return this.spec.families;
  }

  get chains(): QueueChainNames {
    return queueChainNames(this.spec.port);
  }

  get replacedStale(): boolean {
    return this.replaced.length > 0;
  }

  get removed(): boolean {
    return this.removedYet;
  }

  async remove(): Promise<void> {
    await runXtables(removeOwned(this.spec.port, this.spec.families, this.owner));
    this.removedYet = true;
  }

  removeSync(): void {
    runXtablesSync(removeOwned(this.spec.port, this.spec.families, this.owner));
    this.removedYet = true;
  }
}

/**
 * Installs the rules for every family in the spec, or none of them. Rejects with QueueRuleSpecError for a bad spec,
 * QueueRulesInUseError when a running process owns the port's rules, XtablesCommandError when iptables fails (not
 * root, no NFQUEUE target, ...), naming the command and what it printed.
 */
export async function installQueueRules(spec: QueueRuleSpec): Promise<InstalledQueueRules> {
  const checked = validateQueueRuleSpec(spec);
  const owner = currentOwner();
  const replaced = await runXtables(installAll(checked, owner));
  return new InstalledQueueRuleSet(checked, owner, replaced);
}

function* findStale(): XtablesProgram<StaleQueueRules[]> {
  const stale: StaleQueueRules[] = [];
  for (const family of IP_FAMILIES) {
    const listing = yield* listFilterTable(family);
    for (const set of listQueueRuleSets(listing)) if (runningOwner(set) === undefined) stale.push(staleEntry(set, family));
  }
  return stale;
}

function* removeStale(): XtablesProgram<StaleQueueRules[]> {
  const removed: StaleQueueRules[] = [];
  for (const family of IP_FAMILIES) {
    const gone = yield* retryingOnRace(family, function* (listing) {
      const stale = listQueueRuleSets(listing).filter((s) => runningOwner(s) === undefined);
      yield* restoreFilterTable(family, stale.flatMap(removalLines));
      return stale.map((s) => staleEntry(s, family));
    });
    removed.push(...gone);
  }
  return removed;
}

function* removeStaleOfPort(port: number, families: readonly IpFamily[]): XtablesProgram<StaleQueueRules[]> {
  const removed: StaleQueueRules[] = [];
  for (const family of families) {
    const gone = yield* retryingOnRace(family, function* (listing) {
      const set = findQueueRuleSet(listing, port);
      if (set === undefined || runningOwner(set) !== undefined) return undefined;
      yield* restoreFilterTable(family, removalLines(set));
      return staleEntry(set, family);
    });
    if (gone !== undefined) removed.push(gone);
  }
  return removed;
}

/** Rule sets (both families, this network namespace) whose owner no longer runs. */
export function findStaleQueueRules(): Promise<StaleQueueRules[]> {
  return runXtables(findStale());
}

/**
 * Removes the set of one port in the given families if its owner no longer runs (a process that started the owner
 * cleans up after it when it was killed); returns what it removed. A set of a running owner stays.
 */
export function removeStaleQueueRulesOfPort(port: number, families: readonly IpFamily[]): Promise<StaleQueueRules[]> {
  return runXtables(removeStaleOfPort(port, families));
}

/** Removes every stale set; returns what it removed. Sets of running owners stay. */
export function removeStaleQueueRules(): Promise<StaleQueueRules[]> {
  return runXtables(removeStale());
}

/**
 * Removes the rules when the process ends: normal exit, SIGINT, SIGTERM, SIGHUP (the signal is then raised again, so
 * the exit status still tells how the process ended), through the lab's exit-teardown mechanism so that labs and
 * rules share one set of handlers. An uncaught exception or unhandled rejection needs no handler of its own: Node
 * emits 'exit' before it ends the process with status 1, and a listener for 'uncaughtException' would only take away
 * Node's own reporting and exit. (SIGKILL cannot be caught: the next install replaces the stale set, and
 * removeStaleQueueRules() cleans up.) Returns a function that cancels this.
 */
export function registerRuleCleanup(rules: InstalledQueueRules): () => void {
  const teardown = {
    destroySync(): void {
      if (rules.removed) return;
      try {
        rules.removeSync();
      } catch (err) {
        // Nothing can be thrown from here; say it, since the rules stay behind.
        process.stderr.write(`mtuscope: could not remove the queue rules of port ${rules.port}: ${errorMessage(err)}\n`);
      }
    },
  };
  tearDownOnExit(teardown);
  return () => forgetOnExit(teardown);
}
