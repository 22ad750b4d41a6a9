import { readFile } from 'node:fs/promises';
import { runCommand } from '../host/process-runner.js';
import type { IpFamily } from '../packet/ip-family.js';

/**
 * What this host's kernel says about the way to a destination, from `ip route get` and /sys: the source address the
 * probes carry (their checksums cover it), the outgoing device and its MTU (where the large probes start), and the
 * path MTU the kernel has cached for the destination, shown beside ours but never used (our sockets ignore it).
 */
export interface RouteFacts {
  readonly family: IpFamily;
  readonly destination: string;
  readonly source: string;
  readonly device: string;
  readonly deviceMtu: number;
  /** A path MTU learned from an earlier Packet Too Big, while the kernel keeps it. */
  readonly cachedPathMtu?: number;
}

/** Reads the route; throws a sentence naming the destination when there is none. */
export async function routeFacts(destination: string, family: IpFamily): Promise<RouteFacts> {
  const r = await runCommand('ip', [`-${family}`, 'route', 'get', destination], { timeoutMs: 5000 });
  const text = r.stdout.replace(/\s+/g, ' ').trim();
  if (r.code !== 0) throw new Error(`no route to ${destination}: ${r.stderr.trim() || `ip route get exited ${r.code}`}`);
  const parsed = parseRouteGet(text);
  if (parsed.device === undefined || parsed.source === undefined) throw new Error(`no usable route to ${destination}: ip route get said "${text}"`);
  const mtuText = await readFile(`/sys/class/net/${parsed.device}/mtu`, 'utf8');
  const deviceMtu = Number(mtuText.trim());
  if (!Number.isInteger(deviceMtu) || deviceMtu <= 0) throw new Error(`cannot read the MTU of ${parsed.device}`);
  return {
    family,
    destination,
    source: parsed.source,
    device: parsed.device,
    deviceMtu,
    ...(parsed.mtu === undefined ? {} : { cachedPathMtu: parsed.mtu }),
  };
}

/** The fields of one line of `ip route get` output (whitespace collapsed). */
export function parseRouteGet(text: string): { readonly device?: string; readonly source?: string; readonly mtu?: number } {
  const device = /\bdev (\S+)/.exec(text)?.[1];
  const source = /\bsrc (\S+)/.exec(text)?.[1];
  const mtu = /\bmtu (?:lock )?(\d+)/.exec(text)?.[1];
  return { ...(device === undefined ? {} : { device }), ...(source === undefined ? {} : { source }), ...(mtu === undefined ? {} : { mtu: Number(mtu) }) };
}
