/**
 * The packet engine's settings and their defaults, written once: `mtuscope serve` shows these defaults in its help
 * and hands the settings to the engine under the same names (src/checker/serve-options.ts).
 */
import type { FamilyMap } from '../packet/ip-family.js';
import type { RateLimit } from '../util/rate-limiter.js';

/** A budget per client address and one for all clients together. */
export interface RateLimits {
  readonly perClient: RateLimit;
  readonly global: RateLimit;
}

export interface EngineSettings {
  /** The service's TCP port: the engine acts on this port's connections only. */
  readonly port: number;
  /** /icmp: client packets larger than this (with DF for IPv4) are dropped and answered with Packet Too Big. */
  readonly icmpMtu: FamilyMap<number>;
  /** /frag: the largest fragment, IP header(s) included. */
  readonly fragmentSize: FamilyMap<number>;
  /** /icmp: from the first dropped packet; after it the engine lets everything through so the upload completes. */
  readonly icmpWindowMs: number;
  /**
   * /frag: from the first fragments (while none were sent: from the first segment the rate limits held back); after it
   * the data is sent whole and the verdict is "blocked" ("inconclusive" if no fragment the client could acknowledge was sent).
   */
  readonly fragWindowMs: number;
  /** /frag: retransmissions of fragmented data after which the data is sent whole and the test ends as at the window. */
  readonly fragMaxRetransmissions: number;
  /** /download: from the server's first data segment; a test without an outcome by then ends inconclusive. */
  readonly downloadWindowMs: number;
  /**
   * /download: retransmissions of full-size segments, without an acknowledgement of one or a Packet Too Big, after which
   * the path is a black hole toward the client and the engine tells its own kernel a small path MTU (DOWNLOAD_RESCUE_MTU).
   */
  readonly downloadMaxRetransmissions: number;
  /** Packet Too Big messages per second. */
  readonly icmpRate: RateLimits;
  /** Fragments per second: a segment takes one token per fragment, all at once. */
  readonly fragmentRate: RateLimits;
  /**
   * Every per-client limit (Packet Too Big and fragment rates here, test admission in the checker) counts an IPv6
   * client by its prefix of this length, an IPv4 client by its address (see client-key.ts).
   */
  readonly ipv6ClientPrefix: number;
  readonly maxConnections: number;
  /** Connections are forgotten this long after their last packet (or after closing). */
  readonly idleMs: number;
}

/**
 * The path MTU the engine announces to its own kernel for a client behind a black hole, so that the /download response
 * still completes: the smallest every path carries (IPv4: 576, which every host must accept, RFC 791; IPv6: 1280).
 */
export const DOWNLOAD_RESCUE_MTU: FamilyMap<number> = { 4: 576, 6: 1280 };

/** A rate of `perSecond` that allows a burst of two seconds' worth. */
export function perSecondRate(perSecond: number): RateLimit {
  return { perSecond, burst: Math.max(1, perSecond * 2) };
}

/** Every engine setting but the port, which is the service's. */
export const DEFAULT_ENGINE_SETTINGS: Omit<EngineSettings, 'port'> = {
  icmpMtu: { 4: 905, 6: 1280 },
  fragmentSize: { 4: 576, 6: 1280 },
  icmpWindowMs: 10_000,
  fragWindowMs: 10_000,
  fragMaxRetransmissions: 3,
  downloadWindowMs: 10_000,
  downloadMaxRetransmissions: 3,
  icmpRate: { perClient: perSecondRate(50), global: perSecondRate(5000) },
  fragmentRate: { perClient: perSecondRate(500), global: perSecondRate(50_000) },
  ipv6ClientPrefix: 64,
  maxConnections: 16384,
  idleMs: 120_000,
};
