/**
 * What the reassembler counts as memory held, in bytes. It charges what it really keeps, not what the fragments
 * claim: a fragment at offset 60000 costs its own few bytes, not 60 KB, so that a flood of scattered fragments
 * cannot make every datagram look huge and evict everyone else.
 *
 * - Each pending datagram: DATAGRAM_OVERHEAD (its record, its share of the source record, hash and list links,
 *   the typed-array objects of its data buffer) plus the capacity of its data buffer ("arena", a size class of
 *   arena-pool.ts), which holds the data of accepted fragments (copied once, on arrival) and the header of the
 *   offset-0 fragment.
 * - Each piece of the interval list: PIECE_OVERHEAD (one piece per accepted fragment without overlaps; overlaps
 *   may split or drop pieces, and the charge follows the actual count).
 * - Each IPv6 datagram remembered after an RFC 5722 discard: DATAGRAM_OVERHEAD (its data is released).
 *
 * The constants follow measurement (heapUsed + arrayBuffers after forced collections, per pending datagram): about
 * 1000 bytes of JS objects for a datagram with one piece (the record, the piece, the arena's typed-array objects, the
 * source record, two hash-map entries) in a table that only grows (bench/frag.ts, part d), and about 1250 under a
 * flood that keeps evicting (V8's hash maps keep deleted entries until they rehash), which is what the cap must hold
 * against; so memoryUsed tracks what the process really retains. Allocator slack comes on top and shows only in RSS.
 */
export const DATAGRAM_OVERHEAD = 1200;
export const PIECE_OVERHEAD = 64;

/** The largest arena size class: a maximal fragmentable part plus the largest header. */
export const MAX_ARENA = 65535 + 8 + 40 + 2048;
/** Recycled arenas (arena-pool.ts) may hold up to memoryCap / POOL_SHARE; they count against the cap. */
export const POOL_SHARE = 32;

export const DEFAULT_MEMORY_CAP = 4 * 1024 * 1024;
/** A quarter of the cap per source address: one source can never take more than a quarter of the table. */
export const DEFAULT_SOURCE_SHARE = 4;
export const DEFAULT_SOURCE_DATAGRAMS = 1024;
/** Linux ipfrag_time is 30 s for both families; the issue asks for 60 s for IPv6 (RFC 8200's reassembly timeout). */
export const DEFAULT_TIMEOUT_IPV4_MS = 30_000;
export const DEFAULT_TIMEOUT_IPV6_MS = 60_000;
