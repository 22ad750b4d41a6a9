import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import type { RateLimit } from '../util/rate-limiter.js';
import { errorMessage } from '../util/error-message.js';

export interface ServeOptions {
  readonly listen: readonly string[];
  /** No --listen given: a family this host lacks (IPv6 disabled, say) is skipped rather than fatal. */
  readonly listenIsDefault: boolean;
  readonly port: number;
  readonly icmpMtu: { readonly 4: number; readonly 6: number };
  readonly fragmentSize: { readonly 4: number; readonly 6: number };
  readonly windowMs: number;
  readonly fragWindowMs: number;
  readonly reactionWindowMs: number;
  readonly fragRetransmissions: number;
  readonly fragResponseBytes: number;
  readonly storePath: string;
  readonly truncateAddresses: boolean;
  /** Tests per client and in total (admission of HTTP test requests). */
  readonly testRate: { readonly perClient: RateLimit; readonly global: RateLimit };
  readonly icmpRate: { readonly perClient: RateLimit; readonly global: RateLimit };
  readonly fragmentRate: { readonly perClient: RateLimit; readonly global: RateLimit };
  readonly maxConcurrentTests: number;
  readonly maxBodyBytes: number;
  readonly idleTimeoutMs: number;
  readonly queueNum: number;
  readonly mark: number;
  /** Base URLs the web page runs each family's tests against; derived from the request when absent. */
  readonly ipv4Url: string | undefined;
  readonly ipv6Url: string | undefined;
}

export const SERVE_HELP = `Usage: mtuscope serve [options]

The checker service: POST /icmp (client path MTU discovery: drops your large packets and answers with ICMP
"fragmentation needed" / ICMPv6 "Packet Too Big"), GET /frag (response sent as IP fragments), a web page at /,
results at /results and /api/results, engine counters at /api/stats. Needs root, or CAP_NET_ADMIN and CAP_NET_RAW:
it installs iptables/ip6tables NFQUEUE rules for its own port (removed on exit) and sends raw packets.

Listening:
  --listen ADDR               address to listen on; repeat for several (default: 0.0.0.0 and ::)
  --port N                    TCP port (default 8080)
  --ipv4-url URL              base URL the web page uses for IPv4 tests, e.g. http://192.0.2.1:8080
  --ipv6-url URL              base URL the web page uses for IPv6 tests, e.g. http://[2001:db8::1]:8080
                              (default: the address the page was loaded from, for its family)
Tests:
  --ipv4-mtu N                MTU announced in ICMP fragmentation needed (default 905; 576-9000)
  --ipv6-mtu N                MTU announced in ICMPv6 Packet Too Big (default 1280; 1280-9000)
  --ipv4-fragment-size N      largest IPv4 fragment of /frag, header included (default 576; 68-1500)
  --ipv6-fragment-size N      largest IPv6 fragment of /frag, headers included (default 1280; 1280-1500)
  --window SECONDS            /icmp test window: after it the server stops dropping (default 10)
  --frag-window SECONDS       /frag bound before the data is sent whole (default 10)
  --reaction-window SECONDS   a client that re-sends within this after the first ICMP honoured it ("pass");
                              later it found the size by its own probing ("pass-probing") (default 2)
  --frag-retransmissions N    retransmissions of fragmented data before "blocked" (default 3)
  --frag-response-bytes N     size of the /frag response padding (default 8192; at least 4096)
Results:
  --store PATH                SQLite results store (default data/results.sqlite)
  --truncate-addresses        store client addresses truncated to /24 (IPv4) and /48 (IPv6)
Limits:
  --tests-per-client N        tests per minute per client address (default 30)
  --tests-global N            tests per second in total (default 200)
  --icmp-per-client N         ICMP messages per second per client (default 50)
  --icmp-global N             ICMP messages per second in total (default 5000)
  --fragments-per-client N    fragments per second per client (default 500)
  --fragments-global N        fragments per second in total (default 50000)
  --max-concurrent N          tests running at once (default 256)
  --max-body BYTES            largest /icmp body accepted (default 1048576)
  --idle-timeout SECONDS      close connections idle this long (default 30)
Engine:
  --queue-num N               netfilter queue number (default: the port)
  --mark N                    firewall mark of the engine's own packets (default 0x6d74)
  -h, --help                  this text
`;

export class ServeOptionError extends Error {}

const FLAGS = {
  listen: { type: 'string', multiple: true },
  port: { type: 'string' },
  'ipv4-url': { type: 'string' },
  'ipv6-url': { type: 'string' },
  'ipv4-mtu': { type: 'string' },
  'ipv6-mtu': { type: 'string' },
  'ipv4-fragment-size': { type: 'string' },
  'ipv6-fragment-size': { type: 'string' },
  window: { type: 'string' },
  'frag-window': { type: 'string' },
  'reaction-window': { type: 'string' },
  'frag-retransmissions': { type: 'string' },
  'frag-response-bytes': { type: 'string' },
  store: { type: 'string' },
  'truncate-addresses': { type: 'boolean' },
  'tests-per-client': { type: 'string' },
  'tests-global': { type: 'string' },
  'icmp-per-client': { type: 'string' },
  'icmp-global': { type: 'string' },
  'fragments-per-client': { type: 'string' },
  'fragments-global': { type: 'string' },
  'max-concurrent': { type: 'string' },
  'max-body': { type: 'string' },
  'idle-timeout': { type: 'string' },
  'queue-num': { type: 'string' },
  mark: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function integer(values: Record<string, unknown>, flag: string, fallback: number, min: number, max: number): number {
  const raw = values[flag];
  if (raw === undefined) return fallback;
  const text = String(raw).trim();
  const n = /^0x[0-9a-f]+$/i.test(text) ? Number.parseInt(text, 16) : /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ServeOptionError(`--${flag} must be an integer from ${min} to ${max}, got "${text}"`);
  }
  return n;
}

function seconds(values: Record<string, unknown>, flag: string, fallback: number, min: number, max: number): number {
  const raw = values[flag];
  if (raw === undefined) return fallback * 1000;
  const text = String(raw).trim();
  const n = /^\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= min && n <= max)) throw new ServeOptionError(`--${flag} must be a number of seconds from ${min} to ${max}, got "${text}"`);
  return Math.round(n * 1000);
}

function baseUrl(values: Record<string, unknown>, flag: string): string | undefined {
  const raw = values[flag];
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(String(raw));
  } catch {
    throw new ServeOptionError(`--${flag} must be an absolute http or https URL, got "${String(raw)}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ServeOptionError(`--${flag} must be an http or https URL, got "${String(raw)}"`);
  return url.origin;
}

function perSecond(perSecondValue: number): RateLimit {
  return { perSecond: perSecondValue, burst: Math.max(1, perSecondValue * 2) };
}

/** Parses `mtuscope serve` flags; a ServeOptionError names the flag and the bad value. Undefined means --help. */
export function parseServeOptions(argv: readonly string[]): ServeOptions | undefined {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: FLAGS, strict: true, allowPositionals: false });
  } catch (err) {
    throw new ServeOptionError(errorMessage(err));
  }
  const v = parsed.values as Record<string, unknown>;
  if (v.help === true) return undefined;
  const listen = (v.listen as string[] | undefined) ?? ['0.0.0.0', '::'];
  for (const address of listen) {
    if (isIP(address) === 0) throw new ServeOptionError(`--listen must be an IPv4 or IPv6 address, got "${address}"`);
  }
  const port = integer(v, 'port', 8080, 1, 65535);
  const testsPerClient = integer(v, 'tests-per-client', 30, 1, 1_000_000);
  const testsGlobal = integer(v, 'tests-global', 200, 1, 1_000_000);
  return {
    listen,
    listenIsDefault: v.listen === undefined,
    port,
    icmpMtu: { 4: integer(v, 'ipv4-mtu', 905, 576, 9000), 6: integer(v, 'ipv6-mtu', 1280, 1280, 9000) },
    fragmentSize: { 4: integer(v, 'ipv4-fragment-size', 576, 68, 1500), 6: integer(v, 'ipv6-fragment-size', 1280, 1280, 1500) },
    windowMs: seconds(v, 'window', 10, 1, 600),
    fragWindowMs: seconds(v, 'frag-window', 10, 1, 600),
    reactionWindowMs: seconds(v, 'reaction-window', 2, 0.01, 600),
    fragRetransmissions: integer(v, 'frag-retransmissions', 3, 1, 20),
    fragResponseBytes: integer(v, 'frag-response-bytes', 8192, 4096, 1 << 20),
    storePath: (v.store as string | undefined) ?? 'data/results.sqlite',
    truncateAddresses: v['truncate-addresses'] === true,
    testRate: {
      // A per-minute figure: a client may start a burst of a few tests (the web page runs four), then waits.
      perClient: { perSecond: testsPerClient / 60, burst: Math.max(4, Math.min(testsPerClient, 10)) },
      global: perSecond(testsGlobal),
    },
    icmpRate: { perClient: perSecond(integer(v, 'icmp-per-client', 50, 1, 1_000_000)), global: perSecond(integer(v, 'icmp-global', 5000, 1, 10_000_000)) },
    fragmentRate: {
      perClient: perSecond(integer(v, 'fragments-per-client', 500, 1, 10_000_000)),
      global: perSecond(integer(v, 'fragments-global', 50000, 1, 100_000_000)),
    },
    maxConcurrentTests: integer(v, 'max-concurrent', 256, 1, 100_000),
    maxBodyBytes: integer(v, 'max-body', 1 << 20, 4096, 1 << 30),
    idleTimeoutMs: seconds(v, 'idle-timeout', 30, 1, 3600),
    queueNum: integer(v, 'queue-num', port, 0, 65535),
    mark: integer(v, 'mark', 0x6d74, 1, 0xffffffff),
    ipv4Url: baseUrl(v, 'ipv4-url'),
    ipv6Url: baseUrl(v, 'ipv6-url'),
  };
}
