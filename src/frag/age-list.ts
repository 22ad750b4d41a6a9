import type { PendingDatagram } from './pending-datagram.js';

/**
 * Datagrams of one family in creation order, oldest first. With one timeout per family this is also deadline
 * order, so expiry only ever looks at the head.
 */
export class AgeList {
  head: PendingDatagram | null = null;
  tail: PendingDatagram | null = null;

  append(d: PendingDatagram): void {
    d.agePrev = this.tail;
    d.ageNext = null;
    if (this.tail) this.tail.ageNext = d;
    else this.head = d;
    this.tail = d;
  }

  remove(d: PendingDatagram): void {
    if (d.agePrev) d.agePrev.ageNext = d.ageNext;
    else this.head = d.ageNext;
    if (d.ageNext) d.ageNext.agePrev = d.agePrev;
    else this.tail = d.agePrev;
    d.agePrev = d.ageNext = null;
  }
}

/**
 * Datagrams least recently active first: a datagram moves to the tail whenever it accepts a fragment ("oldest first"
 * counted from the last sign of life, as Linux's LRU did when it moved a queue on every fragment). The reassembler
 * keeps two of these, see Reassembler.makeGlobalRoom.
 */
export class ActivityList {
  head: PendingDatagram | null = null;
  tail: PendingDatagram | null = null;

  append(d: PendingDatagram): void {
    d.lruPrev = this.tail;
    d.lruNext = null;
    if (this.tail) this.tail.lruNext = d;
    else this.head = d;
    this.tail = d;
  }

  remove(d: PendingDatagram): void {
    if (d.lruPrev) d.lruPrev.lruNext = d.lruNext;
    else this.head = d.lruNext;
    if (d.lruNext) d.lruNext.lruPrev = d.lruPrev;
    else this.tail = d.lruPrev;
    d.lruPrev = d.lruNext = null;
  }

  touch(d: PendingDatagram): void {
    if (this.tail === d) return;
    this.remove(d);
    this.append(d);
  }

  /** The least recently active datagram other than `except`. */
  stalest(except: PendingDatagram | null): PendingDatagram | null {
    const h = this.head;
    return h !== null && h === except ? h.lruNext : h;
  }
}
