import { clientKeyFor } from '../engine/client-key.js';
import { DEFAULT_ENGINE_SETTINGS } from '../engine/engine-settings.js';
import { ClientRateLimiter, type RateLimit } from '../util/rate-limiter.js';

export type Admission = { readonly ok: true; release(): void } | { readonly ok: false; readonly status: 429 | 503; readonly reason: string };

/**
 * Who may start a test now: per-client and global rates, and a bound on tests running at once. A client is an IPv4
 * address or an IPv6 prefix of `ipv6ClientPrefix` bits (client-key.ts).
 */
export class TestAdmission {
  private running = 0;
  private readonly limiter: ClientRateLimiter;

  constructor(
    rate: { readonly perClient: RateLimit; readonly global: RateLimit },
    private readonly maxConcurrent: number,
    private readonly clock: () => number = () => performance.now(),
    private readonly ipv6ClientPrefix = DEFAULT_ENGINE_SETTINGS.ipv6ClientPrefix,
  ) {
    this.limiter = new ClientRateLimiter(rate.perClient, rate.global, clock(), undefined, clientKeyFor(ipv6ClientPrefix));
  }

  admit(clientAddress: string): Admission {
    if (this.running >= this.maxConcurrent) {
      return { ok: false, status: 503, reason: `${this.running} tests are running, the most this server runs at once; try again in a few seconds` };
    }
    if (!this.limiter.take(clientAddress, this.clock())) {
      return { ok: false, status: 429, reason: `too many tests from your address (an IPv6 client counts as its whole /${this.ipv6ClientPrefix}) or in total; try again in a minute` };
    }
    this.running++;
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.running--;
      },
    };
  }

  get runningTests(): number {
    return this.running;
  }
}
