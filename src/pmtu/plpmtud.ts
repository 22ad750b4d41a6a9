import { type IpFamily, MIN_PATH_MTU } from './constants.js';
import { COMMON_PMTU_TABLE, nextSearchSize, type SearchMethod, type SearchSettings } from './probe-search.js';

/**
 * Datagram Packetization Layer Path MTU Discovery, RFC 8899: the state machine of section 5.2, the timers and constants
 * of sections 5.1.1 and 5.1.2, the use of Packet Too Big as a hint only (section 4.6.2), black-hole detection
 * (section 4.3) and a probe search (section 5.3, see probe-search.ts).
 *
 * Pure and clock-injected: every method takes `nowMs`; the class sets no timers. A prober asks `nextProbeSize(now)`,
 * sends that probe and reports `probeSent`, then `probeAcked` or `probeLost`; `deadline()` says when to ask again if
 * nothing arrives (a PROBE_TIMER, PMTU_RAISE_TIMER or CONFIRMATION_TIMER runs out).
 *
 * Sizes are whole IP packets (what RFC 8899 calls the network-layer size of a PL packet): a PL subtracts its own and
 * the IP headers to get its maximum packet size. MIN_PLPMTU is then exactly the family minimum (68 / 1280).
 */

export type PlpmtudState = 'DISABLED' | 'BASE' | 'SEARCHING' | 'SEARCH_COMPLETE' | 'ERROR';

export interface PlpmtudOptions {
  readonly family: IpFamily;
  /** MAX_PLPMTU: the local interface MTU, or less (the remote EMTU_R, or what the application will ever send). */
  readonly maxPlpmtu: number;
  /** MIN_PLPMTU. Default (and lowest allowed) 68 for IPv4, 1280 for IPv6 (section 5.1.2). */
  readonly minPlpmtu?: number;
  /**
   * BASE_PLPMTU. Default 1200 for IPv4 (recommended by section 5.1.2) and 1280 for IPv6 (it may not be below
   * MIN_PLPMTU); lowered to MAX_PLPMTU when the link is smaller.
   */
  readonly basePlpmtu?: number;
  /** MAX_PROBES, default 3 (section 5.1.2). */
  readonly maxProbes?: number;
  /**
   * PROBE_TIMER. Section 5.1.1: MUST NOT be below 1 s and SHOULD be above 15 s; the default is 20 s. A probe not
   * acknowledged within it counts as lost.
   */
  readonly probeTimerMs?: number;
  /** PMTU_RAISE_TIMER: how long SEARCH_COMPLETE holds before searching again; default 600 s (section 5.1.1). */
  readonly pmtuRaiseTimerMs?: number;
  /**
   * CONFIRMATION_TIMER, for a PL that does not acknowledge its data (section 5.1.1): every period in SEARCH_COMPLETE a
   * probe of the PLPMTU is sent, and MAX_PROBES of them lost in a row mean a black hole. Leave it undefined for an
   * acknowledged PL, which MUST NOT use it and reports black holes with `blackHoleDetected`.
   */
  readonly confirmationTimerMs?: number;
  /**
   * A size already known not to get through (exclusive upper bound of the first search, at most MAX_PLPMTU + 1):
   * the first search stays below it instead of trying MAX_PLPMTU first, as after a black hole (section 4.3). For a
   * search resumed over a range whose upper end is known to fail. Default: none (MAX_PLPMTU + 1).
   */
  readonly searchCeiling?: number;
  /** Probe size selection (section 5.3); default 'binary'. */
  readonly search?: SearchMethod;
  /** Binary search ends when the unknown range is at most this many bytes wide; default 1 (the exact size). */
  readonly searchPrecision?: number;
  /** Sizes for the 'table' search; default COMMON_PMTU_TABLE. */
  readonly probeTable?: readonly number[];
  /** Most events kept in `history` (oldest dropped); default 1000. */
  readonly historyLimit?: number;
  readonly onEvent?: (event: PlpmtudEvent) => void;
}

export type PlpmtudEventKind = 'transition' | 'probe-acked' | 'probe-lost' | 'ptb' | 'ignored';

export interface PlpmtudEvent {
  readonly kind: PlpmtudEventKind;
  readonly atMs: number;
  readonly from: PlpmtudState;
  readonly to: PlpmtudState;
  /** The PLPMTU after the event. */
  readonly plpmtu: number;
  /** The probe size or PTB size the event is about. */
  readonly size?: number;
  readonly reason: string;
}

interface Outstanding {
  readonly size: number;
  readonly sentAtMs: number;
}

export const PLPMTUD_DEFAULTS = {
  maxProbes: 3,
  probeTimerMs: 20_000,
  pmtuRaiseTimerMs: 600_000,
  basePlpmtu: { 4: 1200, 6: 1280 } as Readonly<Record<IpFamily, number>>,
  historyLimit: 1000,
} as const;

export class Plpmtud {
  readonly family: IpFamily;
  readonly minPlpmtu: number;
  readonly basePlpmtu: number;
  readonly maxPlpmtu: number;
  readonly maxProbes: number;
  readonly probeTimerMs: number;
  readonly pmtuRaiseTimerMs: number;
  readonly confirmationTimerMs: number | undefined;

  private current: PlpmtudState = 'DISABLED';
  private size: number;
  private probeCount = 0;
  private outstanding: Outstanding | undefined;
  /** PROBED_SIZE while SEARCHING; undefined when the search has nothing left to try. */
  private probedSize: number | undefined;
  /** Exclusive upper bound of the search: smallest size known or assumed too big. */
  private ceiling: number;
  /** Bounds a black hole or PTB gave for the search that follows the next BASE confirmation. */
  private pendingCeiling: number | undefined;
  private pendingHint: number | undefined;
  private hint: number | undefined;
  private raiseAtMs: number | undefined;
  private confirmAtMs: number | undefined;
  private confirmationDue = false;
  private readonly settings: SearchSettings;
  private readonly historyLimit: number;
  private readonly events: PlpmtudEvent[] = [];
  private readonly onEvent: ((event: PlpmtudEvent) => void) | undefined;

  constructor(options: PlpmtudOptions) {
    const family = options.family;
    this.family = family;
    const floor = MIN_PATH_MTU[family];
    this.maxPlpmtu = options.maxPlpmtu;
    checkInteger('maxPlpmtu', this.maxPlpmtu, floor);
    this.minPlpmtu = options.minPlpmtu ?? floor;
    checkInteger('minPlpmtu', this.minPlpmtu, floor);
    if (this.minPlpmtu > this.maxPlpmtu) throw new RangeError(`minPlpmtu ${this.minPlpmtu} is above maxPlpmtu ${this.maxPlpmtu}`);
    this.basePlpmtu = options.basePlpmtu ?? Math.max(this.minPlpmtu, Math.min(PLPMTUD_DEFAULTS.basePlpmtu[family], this.maxPlpmtu));
    checkInteger('basePlpmtu', this.basePlpmtu, this.minPlpmtu);
    if (this.basePlpmtu > this.maxPlpmtu) {
      throw new RangeError(`basePlpmtu ${this.basePlpmtu} is above maxPlpmtu ${this.maxPlpmtu} (RFC 8899 section 5.1.2)`);
    }
    this.maxProbes = options.maxProbes ?? PLPMTUD_DEFAULTS.maxProbes;
    checkInteger('maxProbes', this.maxProbes, 1);
    this.probeTimerMs = options.probeTimerMs ?? PLPMTUD_DEFAULTS.probeTimerMs;
    if (!(this.probeTimerMs >= 1000)) {
      throw new RangeError(`probeTimerMs ${this.probeTimerMs}: PROBE_TIMER MUST NOT be smaller than 1 s (RFC 8899 section 5.1.1)`);
    }
    this.pmtuRaiseTimerMs = options.pmtuRaiseTimerMs ?? PLPMTUD_DEFAULTS.pmtuRaiseTimerMs;
    if (!(this.pmtuRaiseTimerMs > 0)) throw new RangeError(`pmtuRaiseTimerMs ${this.pmtuRaiseTimerMs} must be positive`);
    this.confirmationTimerMs = options.confirmationTimerMs;
    if (this.confirmationTimerMs !== undefined && !(this.confirmationTimerMs > 0 && this.confirmationTimerMs < this.pmtuRaiseTimerMs)) {
      throw new RangeError(
        `confirmationTimerMs ${this.confirmationTimerMs}: CONFIRMATION_TIMER is positive and less than PMTU_RAISE_TIMER ` +
          `(RFC 8899 section 5.1.1)`,
      );
    }
    const precision = options.searchPrecision ?? 1;
    checkInteger('searchPrecision', precision, 1);
    this.settings = { method: options.search ?? 'binary', precision, table: options.probeTable ?? COMMON_PMTU_TABLE };
    this.historyLimit = options.historyLimit ?? PLPMTUD_DEFAULTS.historyLimit;
    this.onEvent = options.onEvent;
    this.size = this.basePlpmtu;
    this.ceiling = this.maxPlpmtu + 1;
    if (options.searchCeiling !== undefined) {
      checkInteger('searchCeiling', options.searchCeiling, this.basePlpmtu + 1);
      if (options.searchCeiling > this.maxPlpmtu + 1) throw new RangeError(`searchCeiling ${options.searchCeiling} is above maxPlpmtu + 1 (${this.maxPlpmtu + 1})`);
      this.pendingCeiling = options.searchCeiling;
    }
  }

  get state(): PlpmtudState {
    return this.current;
  }

  /** The PLPMTU: the largest packet the PL should send now. */
  get plpmtu(): number {
    return this.size;
  }

  /** PROBE_COUNT: consecutive unacknowledged probes of the size being probed. */
  get probeCounter(): number {
    return this.probeCount;
  }

  /** The probe in flight, if any. */
  get probeInFlight(): { readonly size: number; readonly sentAtMs: number } | undefined {
    return this.outstanding;
  }

  /** The most recent events, oldest first (at most `historyLimit`). */
  get history(): readonly PlpmtudEvent[] {
    return this.events;
  }

  /** The state changes among `history`. */
  get transitions(): readonly PlpmtudEvent[] {
    return this.events.filter((e) => e.kind === 'transition');
  }

  /** The PL has connectivity to its peer (DISABLED → BASE); a BASE_PLPMTU probe may be sent at once. */
  enable(nowMs: number): void {
    if (this.current !== 'DISABLED') {
      this.note('ignored', nowMs, undefined, `enable: already ${this.current}`);
      return;
    }
    this.enter('BASE', nowMs, 'the PL indicates connectivity: confirm BASE_PLPMTU first');
  }

  /** The PL lost connectivity: back to DISABLED from any state (section 5.2). */
  disable(nowMs: number, reason = 'the PL indicates loss of connectivity'): void {
    if (this.current !== 'DISABLED') this.enter('DISABLED', nowMs, reason);
  }

  /**
   * Runs the timers up to `nowMs` (an unacknowledged probe past its PROBE_TIMER counts as lost), then returns the size
   * of the probe to send now, or undefined when none is due (one is in flight, the search is complete and no timer has
   * run out, or the machine is DISABLED).
   */
  nextProbeSize(nowMs: number): number | undefined {
    this.advance(nowMs);
    if (this.outstanding !== undefined) return undefined;
    switch (this.current) {
      case 'DISABLED':
        return undefined;
      case 'BASE':
      case 'ERROR':
        return this.basePlpmtu;
      case 'SEARCHING':
        return this.probedSize;
      case 'SEARCH_COMPLETE':
        return this.confirmationDue ? this.size : undefined;
    }
  }

  /** When the next timer runs out, so the prober knows when to call `nextProbeSize` again; undefined if none runs. */
  deadline(): number | undefined {
    let at: number | undefined;
    const take = (t: number | undefined): void => {
      if (t !== undefined && (at === undefined || t < at)) at = t;
    };
    if (this.outstanding !== undefined) take(this.outstanding.sentAtMs + this.probeTimerMs);
    if (this.current === 'SEARCH_COMPLETE') {
      take(this.raiseAtMs);
      if (!this.confirmationDue && this.outstanding === undefined) take(this.confirmAtMs);
    }
    return at;
  }

  /** Records that the probe `nextProbeSize` asked for went out; starts its PROBE_TIMER. */
  probeSent(size: number, nowMs: number): void {
    const expected = this.nextProbeSize(nowMs);
    if (expected !== size) {
      throw new RangeError(
        `probeSent(${size}) in ${this.current}: the probe due now is ` + (expected === undefined ? 'none' : `${expected} bytes`),
      );
    }
    this.outstanding = { size, sentAtMs: nowMs };
    this.confirmationDue = false;
  }

  /** The peer acknowledged the probe of `size`: that size is confirmed to cross the path (section 4.1). */
  probeAcked(size: number, nowMs: number): void {
    const o = this.outstanding;
    if (o === undefined || o.size !== size) {
      this.note('ignored', nowMs, size, `acknowledgment of a ${size}-byte probe that is not in flight (late or abandoned)`);
      return;
    }
    this.outstanding = undefined;
    this.probeCount = 0;
    switch (this.current) {
      case 'BASE':
      case 'ERROR':
        this.size = this.basePlpmtu;
        this.note('probe-acked', nowMs, size, `BASE_PLPMTU ${size} confirmed`);
        this.enter('SEARCHING', nowMs, `BASE_PLPMTU probe acknowledged`);
        return;
      case 'SEARCHING': {
        this.size = size;
        this.note('probe-acked', nowMs, size, `probe of ${size} acknowledged: PLPMTU is now ${size}`);
        if (size >= this.maxPlpmtu) {
          this.enter('SEARCH_COMPLETE', nowMs, `MAX_PLPMTU probe (${this.maxPlpmtu}) acknowledged`);
          return;
        }
        this.continueSearch(nowMs);
        return;
      }
      case 'SEARCH_COMPLETE':
        this.confirmAtMs = this.confirmationTimerMs === undefined ? undefined : nowMs + this.confirmationTimerMs;
        this.note('probe-acked', nowMs, size, `PLPMTU ${size} confirmed again`);
        return;
      case 'DISABLED':
        return;
    }
  }

  /** The probe of `size` is known to be lost before its PROBE_TIMER ran out (the timer itself is checked by every call). */
  probeLost(size: number, nowMs: number): void {
    this.advance(nowMs);
    const o = this.outstanding;
    if (o === undefined || o.size !== size) {
      this.note('ignored', nowMs, size, `loss of a ${size}-byte probe that is not in flight`);
      return;
    }
    this.lost(o.size, nowMs, 'reported lost');
  }

  /**
   * A Packet Too Big for this path, already validated by the caller against the quoted packet (section 4.6.1: it MUST
   * be, and one that fails MUST NOT be passed here). `ptbSize` is the reported MTU; `quotedSize` the length of the
   * packet it quotes, when known. Per section 4.6.2 it is a hint, never directly the PLPMTU.
   */
  packetTooBig(ptbSize: number, nowMs: number, quotedSize?: number): void {
    this.advance(nowMs);
    const s = this.current;
    if (s === 'DISABLED') {
      this.note('ignored', nowMs, ptbSize, 'Packet Too Big while DISABLED');
      return;
    }
    if (!Number.isInteger(ptbSize) || ptbSize < this.minPlpmtu) {
      this.note('ignored', nowMs, ptbSize, `PTB size ${ptbSize} is below MIN_PLPMTU ${this.minPlpmtu}: invalid, discarded (section 4.6.2)`);
      return;
    }
    const sentSize = Math.max(this.size, this.outstanding?.size ?? 0);
    if (ptbSize >= sentSize || (quotedSize !== undefined && ptbSize >= quotedSize)) {
      this.note(
        'ignored',
        nowMs,
        ptbSize,
        `PTB size ${ptbSize} is not smaller than the packet it complains about ` +
          `(${quotedSize ?? sentSize} bytes): inconsistent signal, discarded (section 4.6.2)`,
      );
      return;
    }
    if (ptbSize < this.basePlpmtu) {
      if (s === 'ERROR') {
        this.note('ptb', nowMs, ptbSize, `PTB size ${ptbSize} below BASE_PLPMTU confirms the ERROR state`);
        return;
      }
      this.note('ptb', nowMs, ptbSize, `PTB size ${ptbSize} is below BASE_PLPMTU ${this.basePlpmtu}`);
      this.enter('ERROR', nowMs, `PTB: PL_PTB_SIZE ${ptbSize} < BASE_PLPMTU ${this.basePlpmtu} (sections 4.6.2, 5.2)`);
      return;
    }
    if (ptbSize < this.size) {
      // A black-hole indication: drop to BASE, then let the search start from the reported size.
      this.note('ptb', nowMs, ptbSize, `PTB size ${ptbSize} is below the PLPMTU ${this.size}: possible black hole`);
      this.pendingCeiling = ptbSize + 1;
      this.pendingHint = ptbSize;
      this.enter('BASE', nowMs, `PTB: BASE_PLPMTU <= PL_PTB_SIZE ${ptbSize} < PLPMTU; PLPMTU set to BASE_PLPMTU (section 4.6.2)`);
      return;
    }
    // Only a probe can be larger than the PLPMTU, so from here on the state is SEARCHING with a probe in flight.
    const probe = this.outstanding;
    if (s !== 'SEARCHING' || probe === undefined) return;
    this.outstanding = undefined;
    this.probeCount = 0;
    this.ceiling = Math.min(this.ceiling, ptbSize + 1);
    if (ptbSize === this.size) {
      this.note('ptb', nowMs, ptbSize, `PTB for the ${probe.size}-byte probe reports exactly the PLPMTU`);
      this.enter('SEARCH_COMPLETE', nowMs, `PTB: PL_PTB_SIZE = PLPMTU ${ptbSize}`);
      return;
    }
    this.hint = ptbSize;
    this.note('ptb', nowMs, ptbSize, `PTB for the ${probe.size}-byte probe: PLPMTU ${this.size} stands, probing ${ptbSize} next`);
    this.continueSearch(nowMs);
  }

  /**
   * Packets of the current PLPMTU are being lost (the PL's own loss detection, section 4.3). From SEARCHING or
   * SEARCH_COMPLETE the machine falls back to BASE, and the search that follows stays below the size that failed.
   */
  blackHoleDetected(nowMs: number): void {
    this.advance(nowMs);
    const s = this.current;
    if (s !== 'SEARCHING' && s !== 'SEARCH_COMPLETE') {
      this.note('ignored', nowMs, undefined, `black hole reported in ${s}: ${s === 'DISABLED' ? 'not probing' : 'the BASE_PLPMTU probes decide'}`);
      return;
    }
    const failed = this.size;
    this.pendingCeiling = failed;
    this.enter('BASE', nowMs, `black hole detected at PLPMTU ${failed}: PLPMTU set to BASE_PLPMTU ${this.basePlpmtu}`);
  }

  private advance(nowMs: number): void {
    const o = this.outstanding;
    if (o !== undefined && nowMs >= o.sentAtMs + this.probeTimerMs) {
      this.lost(o.size, nowMs, `PROBE_TIMER (${this.probeTimerMs} ms) expired`);
    }
    if (this.current !== 'SEARCH_COMPLETE') return;
    if (this.raiseAtMs !== undefined && nowMs >= this.raiseAtMs) {
      this.enter('SEARCHING', nowMs, `PMTU_RAISE_TIMER (${this.pmtuRaiseTimerMs} ms) expired: search for a larger PLPMTU`);
      return;
    }
    if (this.confirmAtMs !== undefined && this.outstanding === undefined && !this.confirmationDue && nowMs >= this.confirmAtMs) {
      this.confirmationDue = true;
      this.probeCount = 0;
      this.confirmAtMs = undefined;
    }
  }

  private lost(size: number, nowMs: number, why: string): void {
    this.outstanding = undefined;
    this.probeCount += 1;
    const count = `${this.probeCount}/${this.maxProbes}`;
    this.note('probe-lost', nowMs, size, `probe of ${size} ${why} (PROBE_COUNT ${count})`);
    switch (this.current) {
      case 'BASE':
        if (this.probeCount >= this.maxProbes) {
          this.enter('ERROR', nowMs, `PROBE_COUNT = MAX_PROBES for BASE_PLPMTU ${this.basePlpmtu}: the path does not carry it`);
        }
        return;
      case 'ERROR':
        // ERROR keeps probing BASE_PLPMTU, one probe per PROBE_TIMER, until one gets through.
        this.probeCount = 0;
        return;
      case 'SEARCHING':
        if (this.probeCount < this.maxProbes) return;
        this.probeCount = 0;
        this.ceiling = Math.min(this.ceiling, size);
        this.continueSearch(nowMs, `PROBE_COUNT = MAX_PROBES for ${size}`);
        return;
      case 'SEARCH_COMPLETE':
        if (this.probeCount >= this.maxProbes) {
          this.pendingCeiling = this.size;
          this.enter('BASE', nowMs, `black hole: ${this.maxProbes} confirmation probes of PLPMTU ${this.size} lost`);
        } else {
          this.confirmationDue = true;
        }
        return;
      case 'DISABLED':
        return;
    }
  }

  /** Chooses the next PROBED_SIZE, or completes the search when none is left. */
  private continueSearch(nowMs: number, why?: string): void {
    const next = this.chooseProbe();
    this.probedSize = next;
    if (next === undefined) {
      const range = `no size left between the PLPMTU ${this.size} and ${Math.min(this.ceiling, this.maxPlpmtu + 1)}`;
      this.enter('SEARCH_COMPLETE', nowMs, why === undefined ? range : `${why}; ${range}`);
    }
  }

  private chooseProbe(): number | undefined {
    const h = this.hint;
    if (h !== undefined) {
      this.hint = undefined;
      if (h > this.size && h < this.ceiling && h <= this.maxPlpmtu) return h;
    }
    return nextSearchSize({ lo: this.size, ceiling: this.ceiling, max: this.maxPlpmtu }, this.settings);
  }

  private enter(to: PlpmtudState, nowMs: number, reason: string): void {
    const from = this.current;
    this.current = to;
    this.outstanding = undefined;
    this.probeCount = 0;
    this.confirmationDue = false;
    this.raiseAtMs = undefined;
    this.confirmAtMs = undefined;
    this.probedSize = undefined;
    switch (to) {
      case 'DISABLED':
        this.size = this.basePlpmtu;
        this.pendingCeiling = undefined;
        this.pendingHint = undefined;
        this.hint = undefined;
        break;
      case 'BASE':
        this.size = this.basePlpmtu;
        break;
      case 'ERROR':
        // A conservative size the higher layer can rely on while the path does not even carry BASE_PLPMTU.
        this.size = this.minPlpmtu;
        break;
      case 'SEARCHING':
        this.ceiling = this.pendingCeiling ?? this.maxPlpmtu + 1;
        this.hint = this.pendingHint;
        this.pendingCeiling = undefined;
        this.pendingHint = undefined;
        break;
      case 'SEARCH_COMPLETE':
        this.hint = undefined;
        this.raiseAtMs = nowMs + this.pmtuRaiseTimerMs;
        if (this.confirmationTimerMs !== undefined) this.confirmAtMs = nowMs + this.confirmationTimerMs;
        break;
    }
    this.record({ kind: 'transition', atMs: nowMs, from, to, plpmtu: this.size, reason });
    if (to === 'SEARCHING') this.continueSearch(nowMs);
  }

  private note(kind: PlpmtudEventKind, nowMs: number, size: number | undefined, reason: string): void {
    const s = this.current;
    this.record({ kind, atMs: nowMs, from: s, to: s, plpmtu: this.size, ...(size === undefined ? {} : { size }), reason });
  }

  private record(event: PlpmtudEvent): void {
    this.events.push(event);
    if (this.events.length > this.historyLimit) this.events.splice(0, this.events.length - this.historyLimit);
    this.onEvent?.(event);
  }
}

function checkInteger(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) throw new RangeError(`${name} ${value} must be an integer of at least ${min}`);
}
