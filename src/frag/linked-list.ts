/** An item's place in one LinkedList. An item carries one link for each list it can be in, made once with the item. */
export class ListLink<T> {
  prev: ListLink<T> | null = null;
  next: ListLink<T> | null = null;

  constructor(readonly item: T) {}
}

/**
 * A doubly linked list through links that its items carry: joining, leaving and moving to the tail allocate nothing
 * and take constant time. The reassembler keeps each datagram in three at once (by age, by activity, in its source).
 */
export class LinkedList<T> {
  head: ListLink<T> | null = null;
  tail: ListLink<T> | null = null;
  size = 0;

  append(l: ListLink<T>): void {
    l.prev = this.tail;
    l.next = null;
    if (this.tail) this.tail.next = l;
    else this.head = l;
    this.tail = l;
    this.size++;
  }

  remove(l: ListLink<T>): void {
    if (l.prev) l.prev.next = l.next;
    else this.head = l.next;
    if (l.next) l.next.prev = l.prev;
    else this.tail = l.prev;
    l.prev = l.next = null;
    this.size--;
  }

  moveToTail(l: ListLink<T>): void {
    if (this.tail === l) return;
    this.remove(l);
    this.append(l);
  }

  /** The item at the head, or the one after it when the head is `except`. */
  firstExcept(except: T | null): T | null {
    const h = this.head;
    if (h === null) return null;
    if (h.item !== except) return h.item;
    return h.next === null ? null : h.next.item;
  }
}
