import { IpProtocol } from '../packet/ip-protocol.js';
import { ActivityList, AgeList } from './age-list.js';
import { ArenaPool } from './arena-pool.js';
import { datagramHash, formatDestination, formatSource, type KeyFields, sameDatagram, sameSource, sourceHash } from './datagram-key.js';
import type { FragCause, FragEvent, FragEventKind, ReassemblerStats } from './frag-event.js';
import { FragmentView, ParseStatus, stripAtomicFragmentHeader } from './fragment-view.js';
import { KeyTable } from './key-table.js';
import {
  DATAGRAM_OVERHEAD,
  DEFAULT_MEMORY_CAP,
  DEFAULT_SOURCE_DATAGRAMS,
  DEFAULT_SOURCE_SHARE,
  DEFAULT_TIMEOUT_IPV4_MS,
  DEFAULT_TIMEOUT_IPV6_MS,
  PIECE_OVERHEAD,
  POOL_SHARE,
} from './memory-accounting.js';
import type { OverlapPolicy } from './overlap-policy.js';
import { OutputSlab } from './output-slab.js';
import { PendingDatagram } from './pending-datagram.js';
import { SourceRecord } from './source-record.js';

export type { FragCause, FragEvent, FragEventKind, ReassemblerStats } from './frag-event.js';
export { OVERLAP_POLICIES, type OverlapPolicy } from './overlap-policy.js';

export interface ReassemblerOptions {
  /** Per family, from the first fragment of a datagram (Linux does not restart the timer either). Defaults 30_000 and 60_000. */
  readonly timeoutMs?: { readonly ipv4?: number; readonly ipv6?: number };
  /**
   * Bytes for all pending datagrams (see memory-accounting.ts for what counts); default 4 MiB. When full, the oldest
   * is evicted first, age counted from a datagram's last accepted fragment, and datagrams holding a single fragment
   * before those that have made progress (see makeGlobalRoom).
   */
  readonly memoryCap?: number;
  /**
   * Bytes per source address; default memoryCap / 4. When a source goes over it, that source's own least recently
   * active datagram is evicted, never another source's. A datagram that alone exceeds it cannot be reassembled.
   */
  readonly perSourceCap?: number;
  /** Pending datagrams (remembered RFC 5722 discards included) per source address; default 1024. */
  readonly perSourceDatagrams?: number;
  /** IPv4 only; default 'linux'. IPv6 overlaps always discard the datagram (RFC 5722). */
  readonly overlapPolicy?: OverlapPolicy;
  /** Called synchronously for every overlap, dropped fragment and discarded datagram. */
  readonly onEvent?: (event: FragEvent) => void;
}

export type ReassemblyOutcome =
  | { readonly status: 'not-fragment' }
  | { readonly status: 'pending' }
  /**
   * The whole datagram as an IP packet: IPv4 with MF/offset cleared, total length and checksum fixed; IPv6 with
   * the Fragment header removed, next header and payload length fixed. `fragments` counts the fragments accepted
   * into it (exact duplicates not counted). The array is a view of a shared 64 KiB buffer (see OutputSlab); copy it
   * with slice() to keep many datagrams for long.
   */
  | { readonly status: 'complete'; readonly datagram: Uint8Array; readonly fragments: number }
  | { readonly status: 'dropped'; readonly reason: string };

const NOT_FRAGMENT: ReassemblyOutcome = Object.freeze({ status: 'not-fragment' });
const PENDING: ReassemblyOutcome = Object.freeze({ status: 'pending' });
const TOO_BIG_FOR_CAP: ReassemblyOutcome = Object.freeze({ status: 'dropped', reason: 'too-big-for-cap: the fragment alone exceeds the per-source limit or the memory cap' });
const NO_ROOM: ReassemblyOutcome = Object.freeze({ status: 'dropped', reason: 'the datagram no longer fits its source limit or the memory cap; discarded' });

/** RFC 1858 section 4: a TCP first fragment must reach past the flags; 16 is the smallest multiple of 8 that does. */
const TCP_TMIN = 16;
const IPV4_MAX_TOTAL = 0xffff;
const IPV6_MAX_PAYLOAD = 0xffff;
const MAX_SPARE_RECORDS = 64;
const MAX_IDLE_SOURCES = 8;
const NO_EXTRA: EventExtra = Object.freeze({});

interface EventExtra {
  offset?: number;
  length?: number;
  fragments?: number;
  bytes?: number;
  policy?: OverlapPolicy;
  overlapBytes?: number;
  newBytesWon?: number;
}

/**
 * IPv4 and IPv6 fragment reassembly that holds up under attack: bounded memory (global cap, oldest first, and
 * per-source limits), timeouts, RFC 5722 / 6946 / 7112 for IPv6, RFC 1858 and target-based overlap policies for
 * IPv4. Pure logic: packets in (IP header first), outcomes and events out, time given by the caller. Malformed
 * input yields a 'dropped' outcome naming the field; nothing throws on bad bytes.
 */
export class Reassembler {
  private readonly timeout4: number;
  private readonly timeout6: number;
  private readonly cap: number;
  private readonly sourceCap: number;
  private readonly sourceDatagrams: number;
  private readonly policy: OverlapPolicy;
  private readonly onEvent: ((event: FragEvent) => void) | undefined;
  private readonly seed = (Math.random() * 0x100000000) | 0;

  private readonly view = new FragmentView();
  private readonly pool: ArenaPool;
  private readonly output = new OutputSlab();
  /** Removed datagram records kept for reuse (allocation and GC show up at a million fragments a second). */
  private readonly spare: PendingDatagram[] = [];
  /**
   * Source records that lost their last datagram, left in the table (oldest first): a sender of one datagram after
   * another would otherwise cost a Map delete and insert per datagram. At most MAX_IDLE_SOURCES linger.
   */
  private readonly idleSources: SourceRecord[] = [];
  private readonly table = new KeyTable<PendingDatagram>(sameDatagram);
  private readonly sources = new KeyTable<SourceRecord>(sameSource);
  private readonly age4 = new AgeList();
  private readonly age6 = new AgeList();
  /** Datagrams that accepted one fragment (and remembered discards), then those that accepted more. */
  private readonly fresh = new ActivityList();
  private readonly progressing = new ActivityList();
  private used = 0;
  private pending = 0;
  private remembered = 0;
  private readonly counts = {
    fragments: 0,
    completed: 0,
    atomic: 0,
    duplicates: 0,
    overlaps: 0,
    droppedFragments: 0,
    discardedDatagrams: 0,
    timeouts: 0,
    evictions: 0,
    unparsable: 0,
    peakMemory: 0,
  };

  constructor(options: ReassemblerOptions = {}) {
    this.timeout4 = options.timeoutMs?.ipv4 ?? DEFAULT_TIMEOUT_IPV4_MS;
    this.timeout6 = options.timeoutMs?.ipv6 ?? DEFAULT_TIMEOUT_IPV6_MS;
    this.cap = options.memoryCap ?? DEFAULT_MEMORY_CAP;
    this.sourceCap = options.perSourceCap ?? Math.floor(this.cap / DEFAULT_SOURCE_SHARE);
    this.sourceDatagrams = options.perSourceDatagrams ?? DEFAULT_SOURCE_DATAGRAMS;
    this.policy = options.overlapPolicy ?? 'linux';
    this.onEvent = options.onEvent;
    this.pool = new ArenaPool(Math.floor(this.cap / POOL_SHARE));
    for (const [name, v] of [
      ['timeoutMs.ipv4', this.timeout4],
      ['timeoutMs.ipv6', this.timeout6],
      ['memoryCap', this.cap],
      ['perSourceCap', this.sourceCap],
      ['perSourceDatagrams', this.sourceDatagrams],
    ] as const) {
      if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`${name} must be a positive number, got ${v}`);
    }
  }

  /** Bytes held for pending datagrams and remembered discards (see memory-accounting.ts). */
  get memoryUsed(): number {
    return this.used;
  }

  /**
   * Bytes of recycled, currently unused data buffers (at most memoryCap / 32). They count against the memory cap too:
   * memoryUsed + pooledBytes never exceeds it, and the pool is trimmed before any datagram is evicted.
   */
  get pooledBytes(): number {
    return this.pool.bytes;
  }

  /** Datagrams being reassembled (remembered RFC 5722 discards not included). */
  get pendingDatagrams(): number {
    return this.pending;
  }

  /** IPv6 datagrams discarded for overlap whose key is kept until their deadline (RFC 5722). */
  get rememberedDiscards(): number {
    return this.remembered;
  }

  get stats(): ReassemblerStats {
    return { ...this.counts };
  }

  /** One IP packet, IPv4 or IPv6 header first, seen at time nowMs. */
  push(packet: Uint8Array, nowMs: number): ReassemblyOutcome {
    this.expire(nowMs);
    const f = this.view;
    const status = f.parse(packet);
    if (status === ParseStatus.NotFragment) return NOT_FRAGMENT;
    if (status === ParseStatus.Unparsable) {
      this.counts.unparsable++;
      return { status: 'dropped', reason: f.reason };
    }
    this.counts.fragments++;
    if (status === ParseStatus.Bad) return this.dropFragment(f.cause, f.reason, nowMs);
    if (status === ParseStatus.Atomic) {
      // RFC 6946: processed in isolation, never mixed with a pending datagram that has the same identification.
      this.counts.atomic++;
      this.counts.completed++;
      return { status: 'complete', datagram: stripAtomicFragmentHeader(packet, f), fragments: 1 };
    }
    return this.pushFragment(packet, nowMs);
  }

  /**
   * A fragment in the view: checked on its own, then against its datagram (created for a new key), stored, and the
   * datagram assembled when it is whole.
   */
  private pushFragment(packet: Uint8Array, nowMs: number): ReassemblyOutcome {
    const f = this.view;
    const refused = this.refuseFragment(packet, nowMs);
    if (refused !== null) return refused;
    const hash = datagramHash(f, this.seed);
    const found = this.table.find(f, hash);
    if (found !== null && found.tombstone) {
      return this.dropFragment('after-discard', 'RFC 5722: the datagram was discarded for overlapping fragments; its later fragments are discarded too', nowMs);
    }
    const maxEnd = found === null ? f.end : Math.max(found.maxEnd, f.end);
    const tooLong = this.refuseTooLong(found, maxEnd, nowMs);
    if (tooLong !== null) return tooLong;
    let d = found;
    if (d !== null) {
      const conflict = this.refuseConflictingEnd(d, nowMs);
      if (conflict !== null) return conflict;
    } else {
      d = this.create(hash, nowMs);
      if (d === null) return TOO_BIG_FOR_CAP;
    }
    // The offset-0 fragment's header is kept once, with its data.
    const header = f.offset === 0 && d.headerAt < 0 ? f.headerLength : 0;
    const notStored = this.store(d, packet, header, nowMs);
    if (notStored !== null) return notStored;
    this.accept(d, header, maxEnd);
    return d.total >= 0 && d.covered === d.total ? this.complete(d) : PENDING;
  }

  /** What makes a fragment unusable whatever its datagram holds (RFC 791, 8200, 1858, 7112); null when nothing does. */
  private refuseFragment(packet: Uint8Array, nowMs: number): ReassemblyOutcome | null {
    const f = this.view;
    const start = f.offset;
    const len = f.dataLength;
    if (len === 0) return this.dropFragment('empty', `fragment at offset ${start} carries no data`, nowMs);
    if (f.more && (len & 7) !== 0) {
      const rfc = f.family === 4 ? 'RFC 791' : 'RFC 8200 section 4.5';
      return this.dropFragment('bad-length', `${rfc}: fragment at offset ${start} with more fragments following has ${len} bytes, not a multiple of 8`, nowMs);
    }
    if (f.family === 4 && f.protocol === IpProtocol.Tcp) {
      if (start === 8) return this.dropFragment('tiny-fragment', 'RFC 1858: TCP fragment at offset 8 could overwrite the TCP flags', nowMs);
      if (start === 0 && len < TCP_TMIN) {
        return this.dropFragment('tiny-fragment', `RFC 1858: TCP first fragment of ${len} bytes does not reach past the TCP flags (${TCP_TMIN} needed)`, nowMs);
      }
    }
    if (f.family === 6 && start === 0) {
      const problem = f.headerChainProblem(packet);
      if (problem !== '') return this.dropFragment('header-chain', `RFC 7112: ${problem}`, nowMs);
    }
    return null;
  }

  /**
   * IPv4 total length and IPv6 payload length are 16-bit (no jumbograms: RFC 2675 forbids fragmenting them). A
   * fragment that would make its datagram longer is dropped, and the datagram discarded with it.
   */
  private refuseTooLong(d: PendingDatagram | null, maxEnd: number, nowMs: number): ReassemblyOutcome | null {
    const f = this.view;
    const hl = d !== null && d.headerAt >= 0 ? d.headerLength : f.offset === 0 ? f.headerLength : f.family === 4 ? 20 : 40;
    const size = f.family === 4 ? hl + maxEnd : hl - 40 + maxEnd;
    if (size <= (f.family === 4 ? IPV4_MAX_TOTAL : IPV6_MAX_PAYLOAD)) return null;
    const what = f.family === 4 ? `total length ${size} exceeds 65535` : `payload length ${size} exceeds 65535`;
    const reason = `fragment at offset ${f.offset} of ${f.dataLength} bytes makes the datagram's ${what}`;
    if (d === null) return this.dropFragment('too-long', reason, nowMs);
    return this.discardForFragment(d, 'too-long', reason, nowMs);
  }

  /** A fragment whose end contradicts the datagram's (teardrop and its kin) discards the datagram. */
  private refuseConflictingEnd(d: PendingDatagram, nowMs: number): ReassemblyOutcome | null {
    const f = this.view;
    const end = f.end;
    if (!f.more) {
      if (d.total >= 0 && end !== d.total) {
        return this.discardForFragment(d, 'length-conflict', `a second last fragment ends at ${end}, the first at ${d.total}`, nowMs);
      }
      if (end < d.maxEnd) {
        return this.discardForFragment(d, 'length-conflict', `last fragment ends at ${end} but data up to ${d.maxEnd} was already received (teardrop)`, nowMs);
      }
    } else if (d.total >= 0 && end > d.total) {
      return this.discardForFragment(d, 'length-conflict', `fragment ends at ${end}, beyond the datagram's end at ${d.total}`, nowMs);
    }
    return null;
  }

  /**
   * Copies the fragment into `d` (with `header` bytes of header first), where it overlaps nothing held as a new piece,
   * else as an exact duplicate (nothing to copy), an RFC 5722 discard (IPv6) or by the overlap policy (IPv4). Returns
   * the outcome when the fragment goes no further, null once it is stored and charged.
   */
  private store(d: PendingDatagram, packet: Uint8Array, header: number, nowMs: number): ReassemblyOutcome | null {
    const f = this.view;
    const start = f.offset;
    const end = f.end;
    const pieces = d.pieces;
    const n = pieces.length;
    const index = n === 0 || pieces[n - 1]!.end <= start ? n : d.lowerBound(start);
    if (index === n || pieces[index]!.start >= end) {
      const capacity = d.plannedCapacity(header + f.dataLength);
      const delta = capacity - d.arena.length + PIECE_OVERHEAD;
      if (!this.makeRoom(d, delta, nowMs)) return NO_ROOM;
      d.insertWhole(packet, f.dataStart, start, end, index, capacity, header, this.pool);
      this.charge(d, delta);
      return null;
    }
    if (d.isExactDuplicate(packet, f.dataStart, start, end, index)) {
      this.counts.duplicates++;
      return PENDING;
    }
    if (f.family === 6) {
      return this.entomb(d, `RFC 5722: fragment at offset ${start} of ${f.dataLength} bytes overlaps data already received`, nowMs, start, f.dataLength);
    }
    return this.storeOverlapping(d, packet, header, index, nowMs);
  }

  /** IPv4: the overlap policy decides, byte run by byte run, whether the new fragment or the data held wins. */
  private storeOverlapping(d: PendingDatagram, packet: Uint8Array, header: number, index: number, nowMs: number): ReassemblyOutcome | null {
    const f = this.view;
    const start = f.offset;
    const len = f.dataLength;
    const plan = d.planOverlap(this.policy, start, f.end, index);
    this.counts.overlaps++;
    if (this.onEvent) {
      this.emit('overlap', 'overlap', `fragment at offset ${start} of ${len} bytes overlaps ${plan.overlapBytes} bytes already received; policy ${this.policy} gives the new fragment ${plan.newBytesWon} of them`, d, nowMs, {
        offset: start,
        length: len,
        policy: this.policy,
        overlapBytes: plan.overlapBytes,
        newBytesWon: plan.newBytesWon,
      });
    }
    const capacity = d.plannedCapacity(header + (plan.usesNew ? len : 0));
    const delta = capacity - d.arena.length + PIECE_OVERHEAD * plan.piecesDelta;
    if (!this.makeRoom(d, delta, nowMs)) return NO_ROOM;
    d.applyOverlap(plan, packet, f.dataStart, start, f.end, capacity, header, this.pool);
    this.charge(d, delta);
    return null;
  }

  /** Books a stored fragment: the header fields it brought, the datagram's fragment count, activity and extent. */
  private accept(d: PendingDatagram, header: number, maxEnd: number): void {
    const f = this.view;
    if (header > 0) {
      d.headerLength = f.headerLength;
      if (f.family === 6) {
        d.nextHeaderField = f.nextHeaderField;
        d.fragmentNextHeader = f.protocol;
        d.protocol = f.protocol;
      }
    }
    d.fragments++;
    if (d.fragments === 2) {
      this.fresh.remove(d);
      this.progressing.append(d);
    } else {
      (d.fragments === 1 ? this.fresh : this.progressing).touch(d);
    }
    d.source!.touch(d);
    d.maxEnd = maxEnd;
    if (!f.more) d.total = f.end;
  }

  private complete(d: PendingDatagram): ReassemblyOutcome {
    const datagram = d.assemble(this.output.take(d.assembledLength));
    const fragments = d.fragments;
    this.remove(d);
    this.counts.completed++;
    return { status: 'complete', datagram, fragments };
  }

  /** Discards datagrams whose time is up, each with an event. */
  expire(nowMs: number): void {
    // Called on every push: two comparisons when nothing is due.
    this.expireList(this.age4, nowMs);
    this.expireList(this.age6, nowMs);
  }

  private expireList(list: AgeList, nowMs: number): void {
    for (let d = list.head; d !== null && d.deadlineMs <= nowMs; d = list.head) {
      if (d.tombstone) {
        this.remove(d);
        continue;
      }
      this.counts.timeouts++;
      const held = this.onEvent && `${d.covered} of ${d.total >= 0 ? d.total : 'an unknown number of'} bytes`;
      this.discard(d, 'timeout', this.onEvent ? `reassembly timed out after ${nowMs - d.createdMs} ms with ${held}` : '', nowMs, NO_EXTRA);
    }
  }

  /** A new datagram for the fragment in the view, or null (with an event) when the fragment alone cannot fit. */
  private create(hash: number, nowMs: number): PendingDatagram | null {
    const f = this.view;
    // Room for the header and two fragments when the first fragment comes first (more follow), else just this one:
    // scattered fragments cost what they carry, not what their offsets suggest.
    const len = f.dataLength;
    const capacity = ArenaPool.capacityFor(f.offset === 0 ? f.headerLength + (f.more ? 2 * len : len) : len);
    const cost = DATAGRAM_OVERHEAD + capacity + PIECE_OVERHEAD;
    if (cost > this.sourceCap || cost > this.cap) {
      this.dropFragment('too-big-for-cap', `a new datagram needs ${cost} bytes; per-source limit ${this.sourceCap}, memory cap ${this.cap}`, nowMs);
      return null;
    }
    const src = this.sourceWithRoom(cost, nowMs);
    const d = this.spare.pop() ?? new PendingDatagram();
    d.copyKey(f);
    d.hash = hash;
    d.createdMs = nowMs;
    d.deadlineMs = nowMs + (f.family === 4 ? this.timeout4 : this.timeout6);
    d.arena = this.pool.acquire(capacity);
    this.table.add(d);
    this.ageList(d).append(d);
    this.fresh.append(d);
    src.append(d);
    this.pending++;
    this.charge(d, DATAGRAM_OVERHEAD + capacity);
    return d;
  }

  /**
   * The record of the view's source, ready for a new datagram of `cost` bytes: its least recently active datagrams
   * evicted while it would go over its limits, room made under the memory cap, and the record made (or taken off the
   * idle ones) if it holds nothing.
   */
  private sourceWithRoom(cost: number, nowMs: number): SourceRecord {
    const f = this.view;
    const sHash = sourceHash(f, this.seed);
    let src = this.sources.find(f, sHash);
    if (src !== null) {
      while (src.datagrams >= this.sourceDatagrams) {
        this.evict(src.oldest!, 'source-datagrams', this.onEvent && `its source holds ${src.datagrams} datagrams, the limit is ${this.sourceDatagrams}`, nowMs);
      }
      while (src.datagrams > 0 && src.bytes + cost > this.sourceCap) {
        this.evict(src.oldest!, 'source-cap', this.onEvent && `its source holds ${src.bytes} bytes, a new datagram needs ${cost}, the limit is ${this.sourceCap}`, nowMs);
      }
    }
    this.makeGlobalRoom(null, cost, nowMs);
    // Evictions may have retired the record (see idleSources): look it up again.
    src = this.sources.find(f, sHash);
    if (src === null) {
      src = new SourceRecord(f, sHash);
      this.sources.add(src);
    } else if (src.datagrams === 0) {
      this.idleSources.splice(this.idleSources.indexOf(src), 1);
    }
    return src;
  }

  /** Frees `delta` bytes for `d`: first from its own source's other datagrams, then globally, oldest first. */
  private makeRoom(d: PendingDatagram, delta: number, nowMs: number): boolean {
    if (delta <= 0) return true;
    const src = d.source!;
    while (src.bytes + delta > this.sourceCap) {
      const victim = src.oldestExcept(d);
      if (victim === null) {
        this.discard(d, 'source-cap', `the datagram would hold ${d.charged + delta} bytes, over the per-source limit of ${this.sourceCap}`, nowMs, {});
        return false;
      }
      this.evict(victim, 'source-cap', this.onEvent && `its source holds ${src.bytes} bytes and needs ${delta} more, the limit is ${this.sourceCap}`, nowMs);
    }
    if (!this.makeGlobalRoom(d, delta, nowMs)) {
      this.discard(d, 'memory-cap', `the datagram would hold ${d.charged + delta} bytes and nothing else is left to evict under the memory cap of ${this.cap}`, nowMs, {});
      return false;
    }
    return true;
  }

  /**
   * Evicts until `delta` more bytes fit under the cap. Victims are the least recently active datagrams that hold a
   * single fragment, and only when none is left those that have accepted more. Fragments with random keys (a
   * spoofed flood) almost never meet a second fragment of their datagram, so they churn among themselves; a
   * legitimate datagram is exposed to them only until its second fragment arrives. A flood that sends several
   * fragments per key competes in the second class, least recently active first.
   */
  private makeGlobalRoom(except: PendingDatagram | null, delta: number, nowMs: number): boolean {
    while (this.used + this.pool.bytes + delta > this.cap) {
      if (this.pool.bytes > 0) {
        this.pool.trim(this.used + this.pool.bytes + delta - this.cap);
        continue;
      }
      const victim = this.fresh.stalest(except) ?? this.progressing.stalest(except);
      if (victim === null) return false;
      this.evict(victim, 'memory-cap', this.onEvent && `pending datagrams hold ${this.used} bytes and ${delta} more are needed, the cap is ${this.cap}`, nowMs);
    }
    return true;
  }

  /** `reason` is only composed when someone listens (evictions come by the million under a flood). */
  private evict(d: PendingDatagram, cause: FragCause, reason: string | undefined, nowMs: number): void {
    if (d.tombstone) {
      // A remembered discard holds no datagram; forgetting it early only means later fragments start afresh.
      this.remove(d);
      return;
    }
    this.counts.evictions++;
    this.discard(d, cause, `evicted: ${reason ?? ''}`, nowMs, NO_EXTRA);
  }

  private discardForFragment(d: PendingDatagram, cause: FragCause, reason: string, nowMs: number): ReassemblyOutcome {
    const f = this.view;
    this.discard(d, cause, reason, nowMs, { offset: f.offset, length: f.dataEnd - f.dataStart });
    return { status: 'dropped', reason: `${cause}: ${reason}` };
  }

  private discard(d: PendingDatagram, cause: FragCause, reason: string, nowMs: number, extra: EventExtra): void {
    this.counts.discardedDatagrams++;
    if (this.onEvent) this.emit('datagram-discarded', cause, reason, d, nowMs, { ...extra, fragments: d.fragments, bytes: d.charged });
    this.remove(d);
  }

  /** RFC 5722: discard everything held and keep the key, so that fragments still to come are discarded too. */
  private entomb(d: PendingDatagram, reason: string, nowMs: number, offset: number, length: number): ReassemblyOutcome {
    this.counts.discardedDatagrams++;
    if (this.onEvent) this.emit('datagram-discarded', 'overlap', reason, d, nowMs, { offset, length, fragments: d.fragments, bytes: d.charged });
    this.charge(d, DATAGRAM_OVERHEAD - d.charged);
    d.release(this.pool);
    this.pending--;
    this.remembered++;
    // Re-queued as the newest everywhere, among the fresh (the first evicted), with the full timeout from now.
    this.activityList(d).remove(d);
    d.tombstone = true;
    this.fresh.append(d);
    this.age6.remove(d);
    d.deadlineMs = nowMs + this.timeout6;
    this.age6.append(d);
    d.source!.touch(d);
    return { status: 'dropped', reason: `overlap: ${reason}` };
  }

  private remove(d: PendingDatagram): void {
    this.table.remove(d);
    this.ageList(d).remove(d);
    this.activityList(d).remove(d);
    const src = d.source!;
    src.remove(d);
    this.charge(d, -d.charged);
    if (src.datagrams === 0) {
      if (this.idleSources.length >= MAX_IDLE_SOURCES) this.sources.remove(this.idleSources.shift()!);
      this.idleSources.push(src);
    }
    if (d.tombstone) this.remembered--;
    else this.pending--;
    d.release(this.pool);
    d.reset();
    if (this.spare.length < MAX_SPARE_RECORDS) this.spare.push(d);
  }

  private ageList(d: PendingDatagram): AgeList {
    return d.family === 4 ? this.age4 : this.age6;
  }

  private activityList(d: PendingDatagram): ActivityList {
    return d.fragments >= 2 && !d.tombstone ? this.progressing : this.fresh;
  }

  private charge(d: PendingDatagram, delta: number): void {
    d.charged += delta;
    d.source!.bytes += delta;
    this.used += delta;
    if (this.used > this.counts.peakMemory) this.counts.peakMemory = this.used;
    // A grown arena returns the old one to the pool after room was made for the new one.
    const over = this.used + this.pool.bytes - this.cap;
    if (over > 0) this.pool.trim(over);
  }

  private dropFragment(cause: FragCause, reason: string, nowMs: number): ReassemblyOutcome {
    this.counts.droppedFragments++;
    const f = this.view;
    if (this.onEvent) this.emit('fragment-dropped', cause, reason, f, nowMs, { offset: f.offset, length: Math.max(0, f.dataEnd - f.dataStart) });
    return { status: 'dropped', reason: `${cause}: ${reason}` };
  }

  private emit(kind: FragEventKind, cause: FragCause, reason: string, k: KeyFields, nowMs: number, extra: EventExtra): void {
    const event: FragEvent = {
      kind,
      cause,
      reason,
      family: k.family,
      src: formatSource(k),
      dst: formatDestination(k),
      identification: k.ident,
      protocol: k.protocol,
      atMs: nowMs,
      ...extra,
    };
    this.onEvent!(event);
  }
}
