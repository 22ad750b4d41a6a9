import { readFileSync } from 'node:fs';

const CAP_NET_ADMIN = 12n;
const CAP_NET_RAW = 13n;

/**
 * The capabilities the engine needs and this process lacks: CAP_NET_ADMIN (iptables rules, the netfilter queue,
 * SO_MARK) and CAP_NET_RAW (raw sockets). Read from the effective set in /proc/self/status, so a root process
 * stripped of them (a container, setpriv) is caught before anything half-starts.
 */
export function missingEngineCapabilities(statusText = readFileSync('/proc/self/status', 'utf8')): string[] {
  const line = /^CapEff:\s*([0-9a-f]+)$/m.exec(statusText);
  const effective = line === null ? 0n : BigInt(`0x${line[1]}`);
  const missing: string[] = [];
  if ((effective & (1n << CAP_NET_ADMIN)) === 0n) missing.push('CAP_NET_ADMIN');
  if ((effective & (1n << CAP_NET_RAW)) === 0n) missing.push('CAP_NET_RAW');
  return missing;
}
