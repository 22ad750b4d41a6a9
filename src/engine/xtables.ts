/**
 * The filter table of iptables / ip6tables, read with `-S` and changed with `iptables-restore --noflush`, which
 * applies a whole batch as one transaction: a batch that fails leaves the table as it was, so no half-installed or
 * half-removed rule set is ever visible. Every command waits for the xtables lock (`-w`).
 *
 * Algorithms over the table are written once as generators of steps (list, restore) and run either asynchronously or
 * synchronously; the synchronous runner exists for process 'exit' handlers, where nothing asynchronous can run.
 */
import { execFile, spawnSync } from 'node:child_process';

export type XtablesFamily = 4 | 6;

export type XtablesStep =
  | { readonly kind: 'list'; readonly family: XtablesFamily }
  | { readonly kind: 'restore'; readonly family: XtablesFamily; readonly lines: readonly string[] };

/** Receives each step's output: the listing for 'list', '' for 'restore'. A failed step is thrown into it. */
export type XtablesProgram<T> = Generator<XtablesStep, T, string>;

const COMMAND_TIMEOUT_MS = 60_000;

export function* listFilterTable(family: XtablesFamily): XtablesProgram<string> {
  return yield { kind: 'list', family };
}

export function* restoreFilterTable(family: XtablesFamily, lines: readonly string[]): XtablesProgram<void> {
  if (lines.length > 0) yield { kind: 'restore', family, lines };
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
  if (step.kind === 'list') return { cmd: tool, args: ['-w', '-t', 'filter', '-S'], input: undefined };
  return { cmd: `${tool}-restore`, args: ['-w', '--noflush'], input: ['*filter', ...step.lines, 'COMMIT', ''].join('\n') };
}

function describe(inv: Invocation): string {
  return [inv.cmd, ...inv.args].join(' ');
}

interface Outcome {
  readonly stdout: string;
  readonly stderr: string;
  readonly status: number | null;
  readonly signal: string | null;
  readonly spawnError: Error | undefined;
}

function check(inv: Invocation, out: Outcome): string {
  if (out.spawnError !== undefined && out.status === null && out.signal === null) {
    const hint = (out.spawnError as NodeJS.ErrnoException).code === 'ENOENT' ? ' (is iptables installed?)' : '';
    throw new XtablesCommandError(describe(inv), out.stderr, `could not be run: ${out.spawnError.message}${hint}`, inv.input);
  }
  if (out.signal !== null) {
    const how = out.signal === 'SIGKILL' ? `timed out after ${COMMAND_TIMEOUT_MS} ms` : `was killed by ${out.signal}`;
    throw new XtablesCommandError(describe(inv), out.stderr, how, inv.input);
  }
  if (out.status !== 0) throw new XtablesCommandError(describe(inv), out.stderr, `exited with ${String(out.status)}`, inv.input);
  return out.stdout;
}

function executeSync(step: XtablesStep): string {
  const inv = invocation(step);
  const r = spawnSync(inv.cmd, inv.args, {
    input: inv.input ?? '',
    encoding: 'utf8',
    timeout: COMMAND_TIMEOUT_MS,
    killSignal: 'SIGKILL',
    maxBuffer: 64 * 1024 * 1024,
  });
  return check(inv, { stdout: r.stdout ?? '', stderr: r.stderr ?? '', status: r.status, signal: r.signal, spawnError: r.error });
}

function execute(step: XtablesStep): Promise<string> {
  const inv = invocation(step);
  return new Promise((resolve, reject) => {
    const child = execFile(
      inv.cmd,
      inv.args,
      { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const failure = error as (Error & { code?: number | string; signal?: NodeJS.Signals | null }) | null;
        const outcome: Outcome = {
          stdout,
          stderr,
          status: failure === null ? 0 : typeof failure.code === 'number' ? failure.code : null,
          signal: failure?.signal ?? null,
          spawnError: failure !== null && typeof failure.code !== 'number' ? failure : undefined,
        };
        try {
          resolve(check(inv, outcome));
        } catch (err) {
          reject(err);
        }
      },
    );
    // A command that fails before reading its input must not crash us with EPIPE.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(inv.input ?? '');
  });
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
