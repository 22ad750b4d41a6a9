import { type KeyFields, KeyWords } from './datagram-key.js';
import { LinkedList } from './linked-list.js';
import type { PendingDatagram } from './pending-datagram.js';

/** What one source address holds: bytes charged, datagrams (remembered discards included), least recently active first. */
export class SourceRecord extends KeyWords {
  bucketNext: SourceRecord | null = null;
  bytes = 0;
  readonly datagrams = new LinkedList<PendingDatagram>();

  constructor(
    k: KeyFields,
    readonly hash: number,
  ) {
    super();
    this.copySource(k);
  }

  append(d: PendingDatagram): void {
    d.source = this;
    this.datagrams.append(d.inSource);
  }

  remove(d: PendingDatagram): void {
    this.datagrams.remove(d.inSource);
  }

  /** Moves `d` to the newest end: a source's list is kept in order of activity, like the global one. */
  touch(d: PendingDatagram): void {
    this.datagrams.moveToTail(d.inSource);
  }

  /** The source's least recently active datagram other than `except`. */
  oldestExcept(except: PendingDatagram | null): PendingDatagram | null {
    return this.datagrams.firstExcept(except);
  }
}
