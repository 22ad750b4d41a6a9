import {
  familyName,
  type IpFamily,
  MIN_PATH_MTU,
  PMTU_EXPIRY_MS,
  PMTU_MIN_EXPIRY_MS,
} from './constants.js';
import { estimateFromOldStyleMessage, plateauBelow } from './plateau.js';

/**
 * Path MTU state per destination for classic, ICMP-driven path MTU discovery: RFC 1191 (IPv4) and RFC 8201 (IPv6).
 * Pure logic: no sockets, no timers; every call takes the time `nowMs`, like the reassembler's `push(packet, nowMs)`.
 *
 * Only destinations whose estimate a Packet Too Big lowered are stored; every other destination has the first-hop
 * MTU. The store is an LRU of bounded size because PTB messages are easy to spoof: a flood naming random destinations
 * must not grow it without end. A forgotten destination costs one more PTB, nothing else.
 */

export interface PathMtuCacheOptions {
  /** The first-hop (link) MTU used when a call gives none: one number for both families, or one per family. */
  readonly linkMtu?: number | { readonly 4?: number; readonly 6?: number };
  /**
   * How long a lowered estimate stands before it is raised back to the first-hop MTU (RFC 1191 section 6.3, RFC 8201
   * section 5.3). Default 10 minutes, as both recommend; at least 5 minutes, since both forbid trying an increase
   * sooner after a PTB.
   */
  readonly expiryMs?: number;
  /** Most destinations kept; the least recently used is forgotten first. Default 4096. */
  readonly maxEntries?: number;
  /**
   * A reported MTU below the family minimum (68 IPv4, 1280 IPv6) cannot be true. 'ignore' (default) discards the
   * message, which is what RFC 8201 section 4 and RFC 8021 point to for IPv6: lowering to the minimum served only to
   * provoke atomic fragments. 'clamp' lowers to the minimum instead, as Linux does.
   */
  readonly belowMinimum?: 'ignore' | 'clamp';
  readonly onEvent?: (event: PmtuEvent) => void;
}

/** A Packet Too Big (ICMPv6 type 2) or "fragmentation needed" (ICMPv4 type 3 code 4), already validated by the caller. */
export interface PacketTooBigReport {
  readonly destination: string;
  readonly family: IpFamily;
  /** The MTU field of the message; 0 from pre-RFC 1191 IPv4 routers. */
  readonly mtu: number;
  /** Length of the packet the message quotes, from its header (IPv4 Total Length; IPv6 40 + Payload Length). */
  readonly quotedLength?: number;
  /** IPv4 only: header length (IHL × 4) of the quoted packet, for the old-router estimate. Default 20. */
  readonly quotedHeaderLength?: number;
  /** The first-hop MTU towards this destination, when it differs from the configured one. */
  readonly linkMtu?: number;
}

export type PmtuEventKind = 'lowered' | 'confirmed' | 'ignored' | 'raised' | 'evicted';

/** Why an estimate changed, or why a message left it alone. */
export interface PmtuEvent {
  readonly kind: PmtuEventKind;
  readonly destination: string;
  readonly family: IpFamily;
  readonly atMs: number;
  readonly previousMtu: number;
  readonly mtu: number;
  /** The MTU field of the Packet Too Big that caused the event, if one did. */
  readonly reportedMtu?: number;
  readonly reason: string;
}

export interface PathMtuLookup {
  readonly mtu: number;
  readonly linkMtu: number;
  /** True while a Packet Too Big holds the estimate below the first-hop MTU. */
  readonly lowered: boolean;
  /** When the lowered estimate is raised again. */
  readonly expiresAtMs?: number;
}

export interface PathMtuEntry {
  readonly destination: string;
  readonly family: IpFamily;
  readonly mtu: number;
  readonly linkMtu: number;
  readonly loweredAtMs: number;
  readonly expiresAtMs: number;
}

interface Entry {
  readonly destination: string;
  readonly family: IpFamily;
  mtu: number;
  linkMtu: number;
  loweredAtMs: number;
  expiresAtMs: number;
}

const DEFAULT_MAX_ENTRIES = 4096;

export class PathMtuCache {
  private readonly entries = new Map<string, Entry>();
  private readonly linkDefaults: { readonly 4?: number; readonly 6?: number };
  private readonly expiryMs: number;
  private readonly maxEntries: number;
  private readonly belowMinimum: 'ignore' | 'clamp';
  private readonly onEvent: ((event: PmtuEvent) => void) | undefined;

  constructor(options: PathMtuCacheOptions = {}) {
    const link = options.linkMtu;
    this.linkDefaults = typeof link === 'number' ? { 4: link, 6: link } : { ...link };
    for (const family of [4, 6] as const) {
      const v = this.linkDefaults[family];
      if (v !== undefined) checkLinkMtu(v, family);
    }
    this.expiryMs = options.expiryMs ?? PMTU_EXPIRY_MS;
    if (!Number.isFinite(this.expiryMs) || this.expiryMs < PMTU_MIN_EXPIRY_MS) {
      throw new RangeError(
        `expiryMs ${this.expiryMs}: RFC 1191 section 6.3 and RFC 8201 section 5.3 forbid raising sooner than ` +
          `${PMTU_MIN_EXPIRY_MS} ms after a Packet Too Big`,
      );
    }
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) {
      throw new RangeError(`maxEntries ${this.maxEntries} must be a positive integer`);
    }
    this.belowMinimum = options.belowMinimum ?? 'ignore';
    this.onEvent = options.onEvent;
  }

  /** Destinations currently holding a lowered estimate. */
  get size(): number {
    return this.entries.size;
  }

  /** The estimate to use for a packet to `destination` now. Raises an expired estimate (with an event). */
  lookup(destination: string, family: IpFamily, nowMs: number, linkMtu?: number): PathMtuLookup {
    const link = this.linkFor(family, linkMtu);
    const key = keyOf(destination, family);
    const entry = this.live(key, nowMs);
    if (entry === undefined) return { mtu: link, linkMtu: link, lowered: false };
    entry.linkMtu = link;
    this.touch(key, entry);
    const mtu = Math.min(entry.mtu, link);
    return mtu < link ? { mtu, linkMtu: link, lowered: true, expiresAtMs: entry.expiresAtMs } : { mtu, linkMtu: link, lowered: false };
  }

  /** Applies a Packet Too Big / fragmentation needed; the returned event says what it did and why. */
  packetTooBig(report: PacketTooBigReport, nowMs: number): PmtuEvent {
    const { destination, family } = report;
    const link = this.linkFor(family, report.linkMtu);
    const key = keyOf(destination, family);
    const entry = this.live(key, nowMs);
    const current = entry === undefined ? link : Math.min(entry.mtu, link);
    const m = report.mtu;
    const min = MIN_PATH_MTU[family];
    const base = { destination, family, atMs: nowMs, previousMtu: current, reportedMtu: m };
    const ignored = (reason: string): PmtuEvent => this.emit({ ...base, kind: 'ignored', mtu: current, reason });

    if (!Number.isInteger(m) || m < 0 || m > 0xffffffff) return ignored(`MTU field ${m} is not a 32-bit unsigned integer`);
    const q = report.quotedLength;
    let candidate: number;
    let why: string;
    if (family === 4 && m === 0) {
      // RFC 1191 section 5: a router from before RFC 1191 leaves the next-hop MTU zero; estimate from the plateaus.
      if (q !== undefined) {
        const est = estimateFromOldStyleMessage(q, report.quotedHeaderLength ?? 20, current);
        candidate = est.estimate;
        why =
          `old-style message (next-hop MTU 0): largest RFC 1191 plateau below the quoted length ${est.adjustedLength}` +
          (est.bsdAdjusted
            ? ` (quoted Total Length ${q} not below the estimate ${current}, so the header length was taken off in case ` +
              `a 4.2BSD-derived router added it, RFC 1191 section 5)`
            : '');
      } else {
        // Without the quoted header, the packet that drew the message was at most the current estimate.
        candidate = plateauBelow(current);
        why = `old-style message (next-hop MTU 0) without a quoted length: largest RFC 1191 plateau below the estimate ${current}`;
      }
    } else if (q !== undefined && m >= q) {
      return ignored(
        `bogus: reported MTU ${m} is not smaller than the ${q}-byte packet the message says was too big; ` +
          `no router sends that for a packet that fit its next hop`,
      );
    } else if (m < min) {
      if (this.belowMinimum === 'ignore') {
        return ignored(
          `reported MTU ${m} is below the ${familyName(family)} minimum ${min}, which no link may have ` +
            (family === 4 ? '(RFC 1191 section 3)' : '(RFC 8201 section 4; RFC 8021: no atomic fragments)'),
        );
      }
      candidate = min;
      why = `reported MTU ${m} is below the ${familyName(family)} minimum ${min}: lowered to the minimum instead`;
    } else {
      candidate = m;
      why = `Packet Too Big reported next-hop MTU ${m}`;
    }

    if (candidate > current) {
      return ignored(
        `${why}; that is above the estimate ${current}, and a Packet Too Big never raises an estimate ` +
          `(RFC 1191 section 3, RFC 8201 section 4)`,
      );
    }
    if (candidate === current) {
      if (entry === undefined) return ignored(`${why}; that is already the first-hop MTU ${link}, nothing to lower`);
      entry.expiresAtMs = nowMs + this.expiryMs;
      this.touch(key, entry);
      return this.emit({
        ...base,
        kind: 'confirmed',
        mtu: current,
        reason: `${why}; same as the estimate, which now stands until ${entry.expiresAtMs}`,
      });
    }
    const expiresAtMs = nowMs + this.expiryMs;
    if (entry === undefined) {
      this.entries.set(key, { destination, family, mtu: candidate, linkMtu: link, loweredAtMs: nowMs, expiresAtMs });
    } else {
      Object.assign(entry, { mtu: candidate, linkMtu: link, loweredAtMs: nowMs, expiresAtMs });
      this.touch(key, entry);
    }
    const event = this.emit({
      ...base,
      kind: 'lowered',
      mtu: candidate,
      reason: `${why}: estimate lowered from ${current} to ${candidate} until ${expiresAtMs}`,
    });
    this.evictOverflow(nowMs);
    return event;
  }

  /** Raises every estimate whose time is up, each with an event (lookups do the same for the one they read). */
  expire(nowMs: number): void {
    for (const [key, entry] of [...this.entries]) {
      if (nowMs >= entry.expiresAtMs) this.raise(key, entry, nowMs);
    }
  }

  /** The lowered estimates, least recently used first. */
  list(): PathMtuEntry[] {
    return [...this.entries.values()].map((e) => ({ ...e }));
  }

  private linkFor(family: IpFamily, given: number | undefined): number {
    const link = given ?? this.linkDefaults[family];
    if (link === undefined) throw new RangeError(`no first-hop MTU for ${familyName(family)}: give linkMtu`);
    if (given !== undefined) checkLinkMtu(given, family);
    return link;
  }

  private live(key: string, nowMs: number): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined || nowMs < entry.expiresAtMs) return entry;
    this.raise(key, entry, nowMs);
    return undefined;
  }

  private raise(key: string, entry: Entry, nowMs: number): void {
    this.entries.delete(key);
    this.emit({
      kind: 'raised',
      destination: entry.destination,
      family: entry.family,
      atMs: nowMs,
      previousMtu: entry.mtu,
      mtu: entry.linkMtu,
      reason:
        `lowered at ${entry.loweredAtMs}, expired at ${entry.expiresAtMs} (after ${this.expiryMs} ms): raised to the ` +
        `first-hop MTU ${entry.linkMtu}; the next Packet Too Big lowers it again (RFC 1191 section 6.3, RFC 8201 section 5.3)`,
    });
  }

  private touch(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
  }

  private evictOverflow(nowMs: number): void {
    while (this.entries.size > this.maxEntries) {
      const first = this.entries.entries().next();
      if (first.done === true) return;
      const [key, entry] = first.value;
      this.entries.delete(key);
      this.emit({
        kind: 'evicted',
        destination: entry.destination,
        family: entry.family,
        atMs: nowMs,
        previousMtu: entry.mtu,
        mtu: entry.linkMtu,
        reason:
          `cache full (${this.maxEntries} destinations): the least recently used was forgotten; its next oversized ` +
          `packet draws a new Packet Too Big`,
      });
    }
  }

  private emit(event: PmtuEvent): PmtuEvent {
    this.onEvent?.(event);
    return event;
  }
}

function keyOf(destination: string, family: IpFamily): string {
  return `${family} ${destination}`;
}

function checkLinkMtu(mtu: number, family: IpFamily): void {
  if (!Number.isInteger(mtu) || mtu < MIN_PATH_MTU[family] || mtu > 0xffffffff) {
    throw new RangeError(`first-hop MTU ${mtu} is not a valid ${familyName(family)} link MTU (at least ${MIN_PATH_MTU[family]})`);
  }
}
