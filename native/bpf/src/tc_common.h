/*
 * What mtuscope's tc programs share (ptb_answer.bpf.c, relay_steer.bpf.c): tcx's "go on" verdict, token buckets, the
 * folding of a one's complement sum and ICMPv6's pseudo-header.
 */
#ifndef MTUSCOPE_TC_COMMON_H
#define MTUSCOPE_TC_COMMON_H

/* tcx: leave the packet to the next program and then the stack. Returned for everything not acted on. */
#define TCX_NEXT -1
#define ETH_LEN 14
#define NS_PER_SECOND 1000000000ULL

/* Tokens in nanotokens, so that the refill is a multiplication: one message takes NS_PER_SECOND. */
struct bucket {
  __u64 nanotokens;
  __u64 last_ns;
};

/*
 * Fills the bucket up to `now`; whether it holds one message's tokens. Two CPUs updating one bucket at the same moment
 * can each take the same token: a limit holds to within one message per CPU.
 */
static __always_inline int refill(struct bucket *b, __u64 rate, __u64 burst, __u64 now) {
  __u64 capacity = burst * NS_PER_SECOND;
  __u64 level = b->nanotokens;
  if (b->last_ns == 0) {
    level = capacity;
  } else if (now > b->last_ns) {
    __u64 elapsed = now - b->last_ns;
    /* Past a full refill the product could overflow; the bucket is full anyway. */
    if (rate == 0 || elapsed >= capacity / rate) level = capacity;
    else level += elapsed * rate;
    if (level > capacity) level = capacity;
  }
  b->last_ns = now;
  b->nanotokens = level;
  return level >= NS_PER_SECOND;
}

/* Takes one message's tokens, or none. */
static __always_inline int take_token(struct bucket *b, __u64 rate, __u64 burst, __u64 now) {
  if (!refill(b, rate, burst, now)) return 0;
  b->nanotokens -= NS_PER_SECOND;
  return 1;
}

/* A sum from bpf_csum_diff folded to 16 bits (0xffff for data whose checksum is right; its complement is the checksum). */
static __always_inline __u16 fold(__s64 sum) {
  __u64 s = (__u64)sum;
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return (__u16)s;
}

/* The sum of ICMPv6's pseudo-header (RFC 8200 8.1): source, destination, upper-layer length, next header 58. */
static __always_inline __s64 icmpv6_pseudo_sum(const __u8 *src, const __u8 *dst, __u32 length) {
  __u8 pseudo[40] = {};
  __builtin_memcpy(pseudo, src, 16);
  __builtin_memcpy(&pseudo[16], dst, 16);
  pseudo[34] = length >> 8;
  pseudo[35] = length & 0xff;
  pseudo[39] = 58;
  return bpf_csum_diff(0, 0, (__be32 *)pseudo, sizeof(pseudo), 0);
}

#endif
