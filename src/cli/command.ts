/**
 * The one shape of every `mtuscope` command and subcommand: an option table (which also holds the defaults and
 * produces `--help`), parsing with `node:util` `parseArgs`, typed errors mapped to exit statuses in one place, and
 * errors printed as `mtuscope <command>: <what was wrong>`.
 *
 * Exit statuses: 0 the work succeeded, 1 the work failed or found a problem (`CommandFailure`, or any other error),
 * 2 the command was called wrongly (`UsageError`).
 */
import { parseArgs } from 'node:util';
import { errorMessage } from '../util/error-message.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A mistake in how the command was called: reported without a stack trace, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The work could not be done, for a reason the message explains to the user: exit status 1, no stack trace. */
export class CommandFailure extends Error {
  override readonly name = 'CommandFailure';
}

interface OptionBase {
  readonly short?: string;
  readonly description: string;
  /** Heading of the group this option is listed under in --help. */
  readonly group?: string;
}

export interface StringOption extends OptionBase {
  readonly type: 'string';
  /** The value's name in --help: `--port N`. */
  readonly value: string;
  readonly default?: string;
  /** Shown as "(default: ...)" when the default is not a plain value, e.g. "the port". */
  readonly defaultText?: string;
  readonly multiple?: boolean;
}

export interface BooleanOption extends OptionBase {
  readonly type: 'boolean';
}

export type OptionSpec = StringOption | BooleanOption;
export type OptionTable = Readonly<Record<string, OptionSpec>>;

type ValueOf<S extends OptionSpec> = S extends BooleanOption
  ? boolean
  : S extends { readonly multiple: true }
    ? string[]
    : S extends { readonly default: string }
      ? string
      : string | undefined;

export type OptionValues<T extends OptionTable> = { -readonly [K in keyof T]: ValueOf<T[K]> };

export interface Invocation<T extends OptionTable> {
  readonly values: OptionValues<T>;
  readonly positionals: readonly string[];
  /** What followed a lone "--", untouched (e.g. the command of `lab exec`). */
  readonly rest: readonly string[];
  /** The options written on the command line (the others hold their defaults): a config file yields to these only. */
  readonly explicit: ReadonlySet<string>;
}

export interface CommandSpec<T extends OptionTable = OptionTable> {
  /** The words after `mtuscope`, e.g. "lab up". */
  readonly name: string;
  /** One line, for the listing of the parent command. */
  readonly summary: string;
  /** What follows the name in the usage line, e.g. "FILE" or "NAME NODE -- CMD [ARG...]". */
  readonly usage: string;
  readonly description: string;
  readonly options: T;
  /** How many positionals the command takes; a wrong count is a usage error naming `usage`. */
  readonly positionals: { readonly min: number; readonly max: number };
  /** Arguments after "--" are the command's own (lab exec). */
  readonly passThrough?: boolean;
  /** Added to the help after the options, e.g. what exit status 1 means for this command. */
  readonly notes?: string;
  run(invocation: Invocation<T>): Promise<number> | number;
}

/** A command made of subcommands (`mtuscope lab ...`). */
export interface CommandGroup {
  readonly name: string;
  readonly summary: string;
  readonly description: string;
  readonly subcommands: readonly AnyCommand[];
  readonly notes?: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each command is typed by its own table; a list holds all
export type AnyCommand = CommandSpec<any> | CommandGroup;

export function defineCommand<T extends OptionTable>(spec: CommandSpec<T>): CommandSpec<T> {
  return spec;
}

function isGroup(command: AnyCommand): command is CommandGroup {
  return 'subcommands' in command;
}

const HELP_OPTION: BooleanOption = { type: 'boolean', short: 'h', description: 'this help' };

function optionLabel(name: string, spec: OptionSpec): string {
  const flag = spec.short === undefined ? `    --${name}` : `-${spec.short}, --${name}`;
  return spec.type === 'string' ? `${flag} ${spec.value}` : flag;
}

function optionText(spec: OptionSpec): string {
  if (spec.type === 'boolean') return spec.description;
  const shown = spec.defaultText ?? spec.default;
  return shown === undefined ? spec.description : `${spec.description} (default: ${shown})`;
}

/** Words of `text` in lines of at most `width` characters, each starting with `indent`. */
export function wrapText(text: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(indent + line);
  return lines;
}

/** Option rows: the label, then the description wrapped beside it. */
function optionRows(options: OptionTable): string[] {
  const entries: [string, OptionSpec][] = [...Object.entries(options), ['help', HELP_OPTION]];
  const width = Math.min(32, Math.max(...entries.map(([n, s]) => optionLabel(n, s).length)) + 2);
  const out: string[] = [];
  let group: string | undefined;
  for (const [name, spec] of entries) {
    if (spec.group !== undefined && spec.group !== group) {
      group = spec.group;
      out.push(`${group}:`);
    }
    const label = `  ${optionLabel(name, spec)}`;
    const text = wrapText(optionText(spec), 110, ' '.repeat(width + 2));
    const first = (text[0] ?? '').trimStart();
    if (label.length < width + 2) out.push(`${label.padEnd(width + 2)}${first}`, ...text.slice(1));
    else out.push(label, ...text);
  }
  return out;
}

export function commandHelp(command: AnyCommand): string {
  if (isGroup(command)) {
    const width = Math.max(...command.subcommands.map((c) => lastWord(c.name).length)) + 2;
    const rows = command.subcommands.map((c) => `  ${lastWord(c.name).padEnd(width)}${c.summary}`);
    return [
      `Usage: ${prefixOf(command.name)} <${command.name === '' ? 'command' : 'subcommand'}> [arguments]`,
      '',
      ...wrapText(command.description, 110, ''),
      '',
      command.name === '' ? 'Commands:' : 'Subcommands:',
      ...rows,
      '',
      ...wrapText(`Run "${prefixOf(command.name)} <${command.name === '' ? 'command' : 'subcommand'}> --help" for its options.${command.notes === undefined ? '' : ` ${command.notes}`}`, 110, ''),
      '',
    ].join('\n');
  }
  const usage = `Usage: ${prefixOf(command.name)}${command.usage === '' ? '' : ` ${command.usage}`} [options]`;
  return [
    usage,
    '',
    ...wrapText(command.description, 110, ''),
    '',
    'Options:',
    ...optionRows(command.options),
    '',
    ...(command.notes === undefined ? [] : [...wrapText(command.notes, 110, ''), '']),
  ].join('\n');
}

function prefixOf(commandName: string): string {
  return commandName === '' ? 'mtuscope' : `mtuscope ${commandName}`;
}

function lastWord(name: string): string {
  return name.slice(name.lastIndexOf(' ') + 1);
}

function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

export function parseInvocation<T extends OptionTable>(command: CommandSpec<T>, args: readonly string[]): Invocation<T> {
  const end = command.passThrough === true ? args.indexOf('--') : -1;
  const own = end === -1 ? args : args.slice(0, end);
  const rest = end === -1 ? [] : args.slice(end + 1);
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean; default?: string }> = {};
  for (const [name, spec] of Object.entries(command.options)) {
    options[name] = {
      type: spec.type,
      ...(spec.short === undefined ? {} : { short: spec.short }),
      ...(spec.type === 'string' && spec.multiple === true ? { multiple: true } : {}),
      ...(spec.type === 'string' && spec.default !== undefined ? { default: spec.default } : {}),
    };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: [...own], options, allowPositionals: true, strict: true, tokens: true });
  } catch (err) {
    throw new UsageError(errorMessage(err).replace(/\. To specify a positional argument.*$/s, ''));
  }
  const values: Record<string, unknown> = { ...parsed.values };
  for (const [name, spec] of Object.entries(command.options)) {
    if (spec.type === 'boolean') values[name] = values[name] === true;
    else if (spec.multiple === true && values[name] === undefined) values[name] = [];
  }
  const { min, max } = command.positionals;
  const got = parsed.positionals;
  if (got.length < min || got.length > max) {
    const expected = command.usage === '' ? 'no arguments' : command.usage;
    throw new UsageError(`expected ${expected}, got ${got.length === 0 ? 'nothing' : got.map((a) => JSON.stringify(a)).join(' ')}`);
  }
  if (command.passThrough === true && end === -1) throw new UsageError(`expected ${command.usage}; the "--" is missing`);
  const explicit = new Set(parsed.tokens.flatMap((t) => (t.kind === 'option' ? [t.name] : [])));
  return { values: values as OptionValues<T>, positionals: got, rest, explicit };
}

/** Runs a command (or a group's subcommand) with its arguments; every error becomes a message and an exit status. */
export async function invokeCommand(command: AnyCommand, args: readonly string[], stdout: NodeJS.WritableStream = process.stdout): Promise<number> {
  if (isGroup(command)) {
    const [sub, ...rest] = args;
    if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
      (sub === undefined ? process.stderr : stdout).write(commandHelp(command));
      return sub === undefined ? EXIT_USAGE : EXIT_OK;
    }
    const found = command.subcommands.find((c) => lastWord(c.name) === sub);
    if (found === undefined) {
      return report(command.name, new UsageError(`unknown ${command.name === '' ? 'command' : 'subcommand'} "${sub}"`));
    }
    return invokeCommand(found, rest, stdout);
  }
  if (wantsHelp(args)) {
    stdout.write(commandHelp(command));
    return EXIT_OK;
  }
  try {
    return await command.run(parseInvocation(command, args));
  } catch (err) {
    return report(command.name, err);
  }
}

/** The one place where errors become exit statuses. */
export function report(commandName: string, err: unknown): number {
  const prefix = prefixOf(commandName);
  if (err instanceof UsageError) {
    const hint = `see "${prefix} --help"`;
    // A message of several lines (a topology file's mistakes, one a line) gets the hint on a line of its own.
    process.stderr.write(err.message.includes('\n') ? `${prefix}: ${err.message}\n${hint}\n` : `${prefix}: ${err.message}; ${hint}\n`);
    return EXIT_USAGE;
  }
  if (err instanceof CommandFailure) {
    process.stderr.write(`${prefix}: ${err.message}\n`);
    return EXIT_FAILURE;
  }
  process.stderr.write(`${prefix}: ${errorMessage(err)}\n`);
  if (process.env['MTUSCOPE_DEBUG'] !== undefined && err instanceof Error && err.stack !== undefined) process.stderr.write(`${err.stack}\n`);
  return EXIT_FAILURE;
}
