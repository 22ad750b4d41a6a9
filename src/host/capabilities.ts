import { readFileSync } from 'node:fs';

/** The capability bits mtuscope needs (linux/capability.h). */
const CAPABILITY_BITS = { CAP_NET_ADMIN: 12n, CAP_NET_RAW: 13n, CAP_SYS_ADMIN: 21n, CAP_PERFMON: 38n, CAP_BPF: 39n } as const;

export type Capability = keyof typeof CAPABILITY_BITS;

/**
 * Which of `wanted` this process lacks, read from the effective set in /proc/self/status, so that a root process
 * stripped of them (a container, setpriv) is caught before anything half-starts.
 */
export function missingCapabilities(wanted: readonly Capability[], statusText = readFileSync('/proc/self/status', 'utf8')): Capability[] {
  const line = /^CapEff:\s*([0-9a-f]+)$/m.exec(statusText);
  const effective = line === null ? 0n : BigInt(`0x${line[1]}`);
  return wanted.filter((c) => (effective & (1n << CAPABILITY_BITS[c])) === 0n);
}

/** The engine's: CAP_NET_ADMIN (iptables rules, the netfilter queue, SO_MARK) and CAP_NET_RAW (raw sockets). */
export const ENGINE_CAPABILITIES: readonly Capability[] = ['CAP_NET_ADMIN', 'CAP_NET_RAW'];

export function missingEngineCapabilities(statusText?: string): Capability[] {
  return missingCapabilities(ENGINE_CAPABILITIES, statusText);
}

/**
 * A lab's: CAP_SYS_ADMIN (creating and entering network namespaces: `ip netns add` mounts them, `ip netns exec`
 * unshares a mount namespace) and CAP_NET_ADMIN (interfaces, addresses, routes, iptables inside them).
 */
export const LAB_CAPABILITIES: readonly Capability[] = ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN'];

export function missingLabCapabilities(statusText?: string): Capability[] {
  return missingCapabilities(LAB_CAPABILITIES, statusText);
}

/**
 * Why this process cannot `task`, in words a user can act on, or undefined when it has every capability in `wanted`:
 * "needs root, or the capabilities A and B, to <task>; this process lacks B. <howToGet>". Checked before anything is
 * touched, so that a user without them gets this sentence rather than a raw EACCES or a half-done change.
 */
export function privilegeProblem(wanted: readonly Capability[], task: string, howToGet: string, statusText?: string): string | undefined {
  const missing = missingCapabilities(wanted, statusText);
  if (missing.length === 0) return undefined;
  return `needs root, or the capabilities ${wanted.join(' and ')}, to ${task}; this process lacks ${missing.join(' and ')}. ${howToGet}`;
}
