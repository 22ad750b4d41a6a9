import { type KeyFields, KeyWords } from './datagram-key.js';
import type { PendingDatagram } from './pending-datagram.js';

/** What one source address holds: bytes charged, datagrams (remembered discards included), least recently active first. */
export class SourceRecord extends KeyWords {
  bucketNext: SourceRecord | null = null;
  bytes = 0;
  datagrams = 0;
  oldest: PendingDatagram | null = null;
  newest: PendingDatagram | null = null;

  constructor(
    k: KeyFields,
    readonly hash: number,
  ) {
    super();
    this.copySource(k);
  }

  append(d: PendingDatagram): void {
    d.source = this;
    d.sourcePrev = this.newest;
    d.sourceNext = null;
    if (this.newest) this.newest.sourceNext = d;
    else this.oldest = d;
    this.newest = d;
    this.datagrams++;
  }

  remove(d: PendingDatagram): void {
    if (d.sourcePrev) d.sourcePrev.sourceNext = d.sourceNext;
    else this.oldest = d.sourceNext;
    if (d.sourceNext) d.sourceNext.sourcePrev = d.sourcePrev;
    else this.newest = d.sourcePrev;
    d.sourcePrev = d.sourceNext = null;
    this.datagrams--;
  }

  /** Moves `d` to the newest end: a source's list is kept in order of activity, like the global one. */
  touch(d: PendingDatagram): void {
    if (this.newest === d) return;
    this.remove(d);
    this.append(d);
  }

  /** The source's least recently active datagram other than `except`. */
  oldestExcept(except: PendingDatagram | null): PendingDatagram | null {
    const o = this.oldest;
    return o !== null && o === except ? o.sourceNext : o;
  }
}
