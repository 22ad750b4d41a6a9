/**
 * Forgetting what the server's kernel learnt about a client's path MTU. A /download test that passes (a router's
 * Packet Too Big) or ends as a black hole (the engine's own Packet Too Big) leaves a route exception on the server:
 * for ten minutes every connection to that client would start with small segments, and the client's next test would
 * say nothing about its path. The service removes it when the test's answer is over.
 *
 * IPv6 removes the exceptions toward that one address (`ip -6 route flush cache to ADDR` deletes the cached routes).
 * IPv4 has no per-address deletion: `ip route flush cache` invalidates every cached path MTU of the namespace, so
 * other clients' connections relearn theirs from the next Packet Too Big (their open connections keep the segment
 * size they already use).
 */
import { runCommand } from '../host/process-runner.js';
import type { IpFamily } from '../packet/ip-family.js';

const FLUSH_TIMEOUT_MS = 5000;

/** Resolves when the flush ran; rejects with what `ip` said when it failed. */
export async function forgetPathMtu(family: IpFamily, clientAddress: string): Promise<void> {
  const argv = family === 4 ? ['-4', 'route', 'flush', 'cache'] : ['-6', 'route', 'flush', 'cache', 'to', clientAddress];
  const r = await runCommand('ip', argv, { timeoutMs: FLUSH_TIMEOUT_MS });
  if (r.code !== 0) throw new Error(`ip ${argv.join(' ')} failed: ${r.startError?.message ?? r.stderr.trim()}`);
}
