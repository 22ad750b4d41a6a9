/**
 * A table of iptables / ip6tables (filter or mangle), read with `-S` and changed with `iptables-restore --noflush`, which
 * applies a whole batch as one transaction: a batch that fails leaves the table as it was, so no half-installed or
 * half-removed rule set is ever visible. Every command waits for the xtables lock (`-w`).
 *
 * Algorithms over the table are written once as generators of steps (list, restore) and run either asynchronously or
 * synchronously; the synchronous runner exists for process 'exit' handlers, where nothing asynchronous can run.
 */
import type { IpFamily } from '../packet/ip-family.js';
import { howCommandEnded, runCommand, runCommandSync, type CommandResult } from './process-runner.js';


/** The tables mtuscope changes: the checker's engine queues in filter, the relay marks and queues in mangle. */
export type XtablesTable = 'filter' | 'mangle';

export type XtablesStep =
  | { readonly kind: 'list'; readonly family: IpFamily; readonly table: XtablesTable }
  | { readonly kind: 'restore'; readonly family: IpFamily; readonly table: XtablesTable; readonly lines: readonly string[] };

/** Receives each step's output: the listing for 'list', '' for 'restore'. A failed step is thrown into it. */
export type XtablesProgram<T> = Generator<XtablesStep, T, string>;

const COMMAND_TIMEOUT_MS = 60_000;

export function* listTable(family: IpFamily, table: XtablesTable): XtablesProgram<string> {
  return yield { kind: 'list', family, table };
}

export function* restoreTable(family: IpFamily, table: XtablesTable, lines: readonly string[]): XtablesProgram<void> {
  if (lines.length > 0) yield { kind: 'restore', family, table, lines };
}

export function listFilterTable(family: IpFamily): XtablesProgram<string> {
  return listTable(family, 'filter');
}

export function restoreFilterTable(family: IpFamily, lines: readonly string[]): XtablesProgram<void> {
  return restoreTable(family, 'filter', lines);
}

export class XtablesCommandError extends Error {
  constructor(
    readonly command: string,
    readonly stderr: string,
    how: string,
    readonly input: string | undefined,
  ) {
    const said = stderr.trim();
    const fed = input === undefined ? '' : `\nits input was:\n${input.replace(/^/gm, '  ').trimEnd()}`;
    super(`${command} ${how}${said === '' ? '' : `: ${said}`}${fed}`);
    this.name = 'XtablesCommandError';
  }
}

interface Invocation {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly input: string | undefined;
}

function invocation(step: XtablesStep): Invocation {
  const tool = step.family === 4 ? 'iptables' : 'ip6tables';
  if (step.kind === 'list') return { cmd: tool, args: ['-w', '-t', step.table, '-S'], input: undefined };
  return { cmd: `${tool}-restore`, args: ['-w', '--noflush'], input: [`*${step.table}`, ...step.lines, 'COMMIT', ''].join('\n') };
}

function describe(inv: Invocation): string {
  return [inv.cmd, ...inv.args].join(' ');
}

function check(inv: Invocation, r: CommandResult): string {
  if (r.code === 0) return r.stdout;
  let how = howCommandEnded(r);
  if (r.timedOut) how = `timed out after ${COMMAND_TIMEOUT_MS} ms`;
  else if (r.startError?.code === 'ENOENT') how += ' (is iptables installed?)';
  throw new XtablesCommandError(describe(inv), r.stderr, how, inv.input);
}

function executeSync(step: XtablesStep): string {
  const inv = invocation(step);
  return check(inv, runCommandSync(inv.cmd, inv.args, { input: inv.input ?? '', timeoutMs: COMMAND_TIMEOUT_MS }));
}

async function execute(step: XtablesStep): Promise<string> {
  const inv = invocation(step);
  return check(inv, await runCommand(inv.cmd, inv.args, { input: inv.input ?? '', timeoutMs: COMMAND_TIMEOUT_MS }));
}

export function runXtablesSync<T>(program: XtablesProgram<T>): T {
  let next = program.next();
  while (next.done !== true) {
    let output: string;
    try {
      output = executeSync(next.value);
    } catch (err) {
      next = program.throw(err);
      continue;
    }
    next = program.next(output);
  }
  return next.value;
}

export async function runXtables<T>(program: XtablesProgram<T>): Promise<T> {
  let next = program.next();
  while (next.done !== true) {
    let output: string;
    try {
      output = await execute(next.value);
    } catch (err) {
      next = program.throw(err);
      continue;
    }
    next = program.next(output);
  }
  return next.value;
}
