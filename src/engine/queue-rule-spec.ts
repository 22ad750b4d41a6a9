/**
 * What the engine asks of the firewall: which TCP port's packets the kernel queues to it, on which netfilter queue,
 * and which firewall mark its own injected packets carry (so OUTPUT does not queue them back). Checked before any
 * command runs, so that a mistake is reported by name rather than as an obscure iptables failure halfway through.
 */
import { isIP } from 'node:net';
import type { FamilyMap, IpFamily } from '../packet/ip-family.js';

export interface QueueRuleSpec {
  /** The service's own TCP port, 1..65535. */
  readonly port: number;
  /** The netfilter queue the engine listens on, 0..65535. */
  readonly queueNum: number;
  /** SO_MARK of the engine's raw socket, 1..2^32-1 (0 is what every unmarked packet carries). */
  readonly mark: number;
  readonly families: readonly IpFamily[];
  /**
   * Queue only packets to (-d) and from (-s) these addresses, each in its own family's rules; every address when
   * absent. Each family in `families` needs at least one, so a family is never silently left unqueued.
   */
  readonly listenAddresses?: readonly string[];
}

/** A spec that passed validation: families without duplicates, addresses sorted by family. */
export interface CheckedQueueRuleSpec {
  readonly port: number;
  readonly queueNum: number;
  readonly mark: number;
  readonly families: readonly IpFamily[];
  /** Per family; undefined when the rules are for every address. */
  readonly addresses: FamilyMap<readonly string[]> | undefined;
}

export class QueueRuleSpecError extends Error {
  constructor(
    readonly field: string,
    readonly value: unknown,
    expectation: string,
  ) {
    super(`invalid queue rule spec: ${field} must be ${expectation}, got ${showValue(value)}`);
    this.name = 'QueueRuleSpecError';
  }
}

function showValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint' || value === undefined) return String(value);
  return JSON.stringify(value) ?? String(value);
}

function checkInteger(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new QueueRuleSpecError(field, value, `an integer from ${min} to ${max}`);
  }
  return value;
}

function checkFamilies(value: unknown): IpFamily[] {
  if (!Array.isArray(value) || value.length === 0) throw new QueueRuleSpecError('families', value, 'a non-empty list of 4 and/or 6');
  const families = new Set<IpFamily>();
  for (const [i, f] of (value as unknown[]).entries()) {
    if (f !== 4 && f !== 6) throw new QueueRuleSpecError(`families[${i}]`, f, '4 or 6');
    families.add(f);
  }
  return [...families].sort((a, b) => a - b);
}

function checkAddresses(value: unknown, families: readonly IpFamily[]): FamilyMap<string[]> | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0) {
    throw new QueueRuleSpecError('listenAddresses', value, 'a non-empty list of IP addresses (or left out for every address)');
  }
  const byFamily: FamilyMap<string[]> = { 4: [], 6: [] };
  for (const [i, a] of (value as unknown[]).entries()) {
    const field = `listenAddresses[${i}]`;
    // A zone index (fe80::1%eth0) is something ip6tables does not take.
    const family = typeof a === 'string' && !a.includes('%') ? isIP(a) : 0;
    if (family !== 4 && family !== 6) throw new QueueRuleSpecError(field, a, 'an IPv4 or IPv6 address');
    if (!families.includes(family)) throw new QueueRuleSpecError(field, a, `an address of a family in families (${families.join(', ')})`);
    if (!byFamily[family].includes(a as string)) byFamily[family].push(a as string);
  }
  for (const family of families) {
    if (byFamily[family].length === 0) {
      throw new QueueRuleSpecError('listenAddresses', value, `a list with at least one IPv${family} address, since families includes ${family}`);
    }
  }
  return byFamily;
}

/** Throws QueueRuleSpecError naming the first bad field and its value. Accepts `unknown` fields from JS callers. */
export function validateQueueRuleSpec(spec: QueueRuleSpec): CheckedQueueRuleSpec {
  const port = checkInteger('port', spec.port, 1, 65535);
  const queueNum = checkInteger('queueNum', spec.queueNum, 0, 65535);
  const mark = checkInteger('mark', spec.mark, 1, 2 ** 32 - 1);
  const families = checkFamilies(spec.families);
  const addresses = checkAddresses(spec.listenAddresses, families);
  return { port, queueNum, mark, families, addresses };
}
