/**
 * The kernel's IPv4 statistics of a lab node (/proc/net/snmp, which shows the namespace of the process reading it):
 * counters such as Ip.FragFails (packets ip_fragment refused: too big with DF) or Ip.ReasmTimeout (datagrams whose
 * fragments did not all arrive in time). Unlike the drop tracepoint they belong to one namespace, so traffic
 * elsewhere on the machine never shows up in them.
 */
import type { LabNodes } from './lab-nodes.js';

/** Counters by `Group.Name`, e.g. `Ip.FragFails`, `Icmp.InDestUnreachs`. */
export type SnmpCounters = ReadonlyMap<string, number>;

/** /proc/net/snmp: each group is a line of names followed by a line of values, both starting with `Group:`. */
export function parseSnmp(text: string): Map<string, number> {
  const counters = new Map<string, number>();
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const [group, ...names] = lines[i]!.trim().split(/\s+/);
    const [again, ...values] = lines[i + 1]!.trim().split(/\s+/);
    if (group === undefined || group !== again || !group.endsWith(':') || names.length !== values.length) {
      throw new Error(`/proc/net/snmp: unexpected lines "${lines[i]!}" / "${lines[i + 1]!}"`);
    }
    names.forEach((name, k) => counters.set(`${group.slice(0, -1)}.${name}`, Number(values[k])));
  }
  return counters;
}

export async function readSnmp(lab: Pick<LabNodes, 'exec'>, node: string): Promise<SnmpCounters> {
  const r = await lab.exec(node, ['cat', '/proc/net/snmp']);
  if (r.code !== 0) throw new Error(`reading /proc/net/snmp on ${node}: ${r.stderr.trim()}`);
  return parseSnmp(r.stdout);
}

/** How much counter `name` rose from `before` to `after`; undefined when either reading lacks it. */
export function snmpIncrease(before: SnmpCounters, after: SnmpCounters, name: string): number | undefined {
  const [from, to] = [before.get(name), after.get(name)];
  return from === undefined || to === undefined ? undefined : to - from;
}
