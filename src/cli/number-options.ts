/**
 * Options holding a number: a whole number (decimal or 0x hex) or a number of seconds (kept in milliseconds), each
 * with its range, which --help shows and parsing enforces.
 */
import { type StringOption, UsageError } from './command.js';

export interface NumberRange {
  readonly min: number;
  readonly max: number;
  /** How a number of this option is written in --help and messages (the mark in hex). */
  readonly show?: (n: number) => string;
}

/** An option holding a whole number (decimal or 0x hex) or a number of seconds (kept in milliseconds). */
export interface NumberOption extends StringOption {
  readonly unit: 'integer' | 'seconds';
  readonly range: NumberRange;
}

export interface NumberOptionSpec extends NumberRange {
  readonly group: string;
  readonly description: string;
  readonly value?: string;
}

export function shown(range: NumberRange, n: number): string {
  return (range.show ?? String)(n);
}

export function numberOption(unit: NumberOption['unit'], spec: NumberOptionSpec): NumberOption {
  const { group, description, value, ...range } = spec;
  return {
    type: 'string',
    unit,
    range,
    group,
    value: value ?? (unit === 'seconds' ? 'SECONDS' : 'N'),
    description: `${description} (${shown(range, range.min)}-${shown(range, range.max)})`,
  };
}

/** A whole-number option whose default is `defaultValue`. */
export function integer(spec: NumberOptionSpec, defaultValue: number): NumberOption & { readonly default: string } {
  return { ...numberOption('integer', spec), default: shown(spec, defaultValue) };
}

/** A number of seconds whose default is `defaultMs` milliseconds. */
export function seconds(spec: NumberOptionSpec, defaultMs: number): NumberOption & { readonly default: string } {
  return { ...numberOption('seconds', spec), default: shown(spec, defaultMs / 1000) };
}

export const hex = (n: number): string => `0x${n.toString(16)}`;

/** The value of `--flag` (an option made by integer() or seconds()), or a UsageError naming the flag and the range. */
export function numberOptionValue(flag: string, option: NumberOption, text: string): number {
  const { unit, range } = option;
  const t = text.trim();
  const between = `from ${shown(range, range.min)} to ${shown(range, range.max)}`;
  if (unit === 'seconds') {
    const n = /^\d+(\.\d+)?$/.test(t) ? Number(t) : Number.NaN;
    if (!(n >= range.min && n <= range.max)) throw new UsageError(`--${flag}: "${t}" is not a number of seconds ${between}`);
    return Math.round(n * 1000);
  }
  const n = /^0x[0-9a-f]+$/i.test(t) ? Number.parseInt(t, 16) : /^\d+$/.test(t) ? Number(t) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < range.min || n > range.max) throw new UsageError(`--${flag}: "${t}" is not an integer ${between}`);
  return n;
}
