import { type ConnectionOpening, connectionKey, TrackedConnection } from './tracked-connection.js';

/** What opening a connection did to the table. */
export type OpenOutcome =
  | { readonly kind: 'tracked'; readonly connection: TrackedConnection; readonly evicted: boolean }
  /** The SYN belongs to a connection that is up and open: a retransmission or a spoof, and no reason to start over. */
  | { readonly kind: 'kept'; readonly connection: TrackedConnection }
  /** Every entry is an established connection, none of which may go for a SYN: this one is not tracked. */
  | { readonly kind: 'full' };

/**
 * The engine's connections, bounded. An entry is half-open from the client's bare SYN until the client acknowledges
 * the server's SYN-ACK. Anybody can send SYNs, from any (spoofed) address and as fast as they like, so when the table
 * is full a SYN only ever displaces the oldest half-open entry: a connection whose handshake completed — the
 * blackholed or probing client whose test takes longest — stays until it closes or goes idle, however many SYNs come.
 */
export class ConnectionTable {
  private readonly all = new Map<string, TrackedConnection>();
  /** The half-open entries, oldest first (Map keeps insertion order). */
  private readonly halfOpen = new Map<string, TrackedConnection>();

  constructor(private readonly maxConnections: number) {}

  get size(): number {
    return this.all.size;
  }

  get halfOpenCount(): number {
    return this.halfOpen.size;
  }

  get(key: string): TrackedConnection | undefined {
    return this.all.get(key);
  }

  /**
   * Tracks the connection a SYN opens. `makeRoom` runs first when the table is full (the engine sweeps idle entries
   * there); if it is still full, the oldest half-open entry goes.
   */
  open(opening: ConnectionOpening, makeRoom: () => void): OpenOutcome {
    const key = connectionKey(opening);
    const existing = this.all.get(key);
    if (existing !== undefined && existing.established && !existing.closed) return { kind: 'kept', connection: existing };
    if (existing !== undefined) this.forget(key);
    let evicted = false;
    if (this.all.size >= this.maxConnections) {
      makeRoom();
      if (this.all.size >= this.maxConnections) {
        const oldest = this.halfOpen.keys().next().value;
        if (oldest === undefined) return { kind: 'full' };
        this.forget(oldest);
        evicted = true;
      }
    }
    const connection = new TrackedConnection(opening);
    this.all.set(key, connection);
    this.halfOpen.set(key, connection);
    return { kind: 'tracked', connection, evicted };
  }

  /** The client acknowledged the SYN-ACK: from now on no SYN can displace this connection. */
  establish(c: TrackedConnection): void {
    c.established = true;
    this.halfOpen.delete(c.key);
  }

  /** Forgets every entry `expired` says is done. */
  sweep(expired: (c: TrackedConnection) => boolean): void {
    for (const [key, c] of this.all) if (expired(c)) this.forget(key);
  }

  private forget(key: string): void {
    this.all.delete(key);
    this.halfOpen.delete(key);
  }
}
