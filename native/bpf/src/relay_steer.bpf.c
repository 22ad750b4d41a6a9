/*
 * mtuscope relay, owner mode: Packets Too Big steered to the next hop that carries their flow in the kernel's datapath.
 *
 * Attached to the ingress of the ECMP router's interfaces (tcx). For an ICMP "fragmentation needed" / ICMPv6 Packet Too
 * Big addressed to a served address, it makes the checks of src/relay/relay-verdict.ts, finds the quoted flow in
 * conntrack (its connection mark names the next hop the flow's own packets took, set by the relay's POSTROUTING
 * rules), applies the relay's de-duplication and rate limits, and then either marks the message with that next hop's
 * route mark (the kernel forwards it through the peer's policy route, as when the relay in user space accepts it
 * marked) or, when the owner is not known, sends a copy marked as relayed (DSCP) to every candidate and drops the
 * original. Each message it relays is reported on a ring buffer for the relay's output and counters.
 *
 * Passing every message through the netfilter queue cost a wake-up of the relay per message: 20-40x the kernel's own
 * forwarding delay before any work, and the relay's one core at 30,000-45,000 messages a second (docs/benchmarks.md).
 *
 * What it cannot judge here (IPv4 or IPv6 options and extension headers in the outer header, IPv6 extension headers in
 * the quote, a quoted protocol without ports in conntrack, a message longer than 1280 bytes, anything malformed or
 * already relayed) it leaves unmarked to the relay in user space, which judges it with the full codecs and reports
 * why. A message its limits refuse is passed on with the outcome in the mark, so that user space reports it and
 * leaves it to the kernel, as it does for those its own limits refuse.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "tc_common.h"

#define IPV4_LEN 20
#define IPV6_LEN 40
#define ICMP_LEN 8
/* The longest ICMP message judged here: an ICMPv6 Packet Too Big may fill 1280 bytes (RFC 4443 2.4(c)). */
#define ICMP_MAX (1280 - IPV6_LEN)
#define PEERS 128

/* src/relay/relay-marks.ts */
#define LEARNED_MASK 0x00ff0000u
#define LEARNED_SHIFT 16
#define ROUTE_BIT 0x01000000u
#define RELAY_MASK (LEARNED_MASK | ROUTE_BIT)
#define SHARED_BASE 0x80
#define INJECTED 0xff
/* The outcome of the kernel's limits for a message left to user space (src/relay/relay-kernel-layout.ts). */
#define OUTCOME_MASK 0x0e000000u
#define OUTCOME_SHIFT 25
enum limit_outcome { ADMITTED, DUPLICATE, ROUTER_LIMIT, FLOW_LIMIT, TOTAL_LIMIT };

struct nf_conn {
  __u32 mark;
} __attribute__((preserve_access_index));

/* The kernel's struct bpf_ct_opts (net/netfilter/nf_conntrack_bpf.c, 16 bytes since Linux 6.10). */
struct ct_opts {
  __s32 netns_id;
  __s32 error;
  __u8 l4proto;
  __u8 dir;
  __u16 ct_zone_id;
  __u8 ct_zone_dir;
  __u8 reserved[3];
};

extern struct nf_conn *bpf_skb_ct_lookup(struct __sk_buff *skb, struct bpf_sock_tuple *tuple, __u32 tuple_size, struct ct_opts *opts, __u32 opts_size) __ksym;
extern void bpf_ct_release(struct nf_conn *ct) __ksym;

struct settings {
  __u32 relayed_dscp;
  __u32 max_mtu4;
  __u32 max_mtu6;
  __u32 seed_a;
  __u32 seed_b;
  __u32 pad;
  __u64 dedup_ns;
  __u64 router_rate;
  __u64 router_burst;
  __u64 flow_rate;
  __u64 flow_burst;
  __u64 total_rate;
  __u64 total_burst;
  /* The peers of each family, bit i for peer i: the candidates when the owner is not known. */
  __u64 peers4[2];
  __u64 peers6[2];
};

/* A served prefix: LPM trie key. */
struct served_key {
  __u32 prefixlen;
  __u8 address[16];
};


struct router_key {
  __u8 family;
  __u8 pad[3];
  __u8 address[16];
};

struct flow_key {
  __u8 family;
  __u8 protocol;
  __be16 served_port;
  __be16 peer_port;
  __u16 pad;
  __u8 served[16];
  __u8 peer[16];
};

struct message_key {
  struct router_key router;
  __u32 mtu;
  __u16 quote_length;
  __u8 type;
  __u8 code;
  __u32 digest_a;
  __u32 digest_b;
};

/* One relayed message, for the relay's output: src/relay/relay-kernel-layout.ts reads the same 72 bytes. */
struct event {
  __u64 ns;
  __u8 family;
  __u8 method; /* 0 owner, 1 fallback: owner not known, 2 fallback: shared interface */
  __u8 protocol;
  __u8 index; /* owner: the peer; shared interface: the interface */
  __u32 mtu;
  __be16 served_port;
  __be16 peer_port;
  __u32 copies;
  __u8 router[16];
  __u8 served[16];
  __u8 peer[16];
};

/* The message and room for the checksum's last 512-byte step to read zeros past it: three steps cover 1536 bytes. */
struct scratch {
  __u8 icmp[1536];
  /* The route lookup of a copy: too large for the stack with the rest. */
  struct bpf_fib_lookup fib;
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct settings);
} settings SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, 1024);
  __type(key, struct served_key);
  __type(value, __u8);
  __uint(map_flags, BPF_F_NO_PREALLOC);
} served4 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, 1024);
  __type(key, struct served_key);
  __type(value, __u8);
  __uint(map_flags, BPF_F_NO_PREALLOC);
} served6 SEC(".maps");

/* Peer i's address, where its copies go (relay-kernel-layout.ts's STEER_PEER). */
struct peer {
  __u8 family;
  __u8 pad[3];
  __u8 address[16];
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, PEERS - 1);
  __type(key, __u32);
  __type(value, struct peer);
} peers SEC(".maps");

/* Shared interface i: the peers behind it (bits, as settings' peers4). */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 127);
  __type(key, __u32);
  __type(value, __u64[2]);
} shared SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct router_key);
  __type(value, struct bucket);
} router_buckets SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct flow_key);
  __type(value, struct bucket);
} flow_buckets SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct bucket);
} total_bucket SEC(".maps");

/* Message → when it was admitted (ns). */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct message_key);
  __type(value, __u64);
} admitted SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct scratch);
} scratch SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 8 << 20);
} events SEC(".maps");

/* src/relay/relay-kernel-layout.ts: STEER_COUNTERS, in this order. */
enum counter {
  RELAYED_OWNER,
  RELAYED_UNKNOWN,
  RELAYED_SHARED,
  COPIES,
  LIMITED,
  LEFT_TO_USER_SPACE,
  EVENTS_LOST,
  COPIES_FAILED,
  COPIES_FORWARDED,
  COUNTERS
};
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, COUNTERS);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 counter, __u64 n) {
  __u64 *c = bpf_map_lookup_elem(&counters, &counter);
  if (c) *c += n;
}

static __always_inline struct bucket *bucket_of(void *map, const void *key) {
  struct bucket *b = bpf_map_lookup_elem(map, key);
  if (b) return b;
  struct bucket fresh = {};
  bpf_map_update_elem(map, key, &fresh, BPF_NOEXIST);
  return bpf_map_lookup_elem(map, key);
}

static __always_inline __u32 load_u32(const __u8 *p) {
  return ((__u32)p[0] << 24) | ((__u32)p[1] << 16) | ((__u32)p[2] << 8) | p[3];
}

/* One's complement sum of the first `length` bytes of `bytes`, zero-padded to a multiple of 4 (the caller zeroes). */
static __always_inline __s64 sum_icmp(struct scratch *s, __u32 length, __s64 seed) {
  __u32 words = (length + 3) & ~3u;
  __s64 sum = seed;
  __u32 first = words > 512 ? 512 : words;
  sum = bpf_csum_diff(0, 0, (__be32 *)&s->icmp[0], first & 0x3fc, sum);
  if (words <= 512) return sum;
  __u32 second = words - 512 > 512 ? 512 : words - 512;
  sum = bpf_csum_diff(0, 0, (__be32 *)&s->icmp[512], second & 0x3fc, sum);
  if (words <= 1024) return sum;
  return bpf_csum_diff(0, 0, (__be32 *)&s->icmp[1024], (words - 1024) & 0x1fc, sum);
}

/* The digest of quote-digest.ts's kind: two lanes over the quote's words, seeded per load. */
static __always_inline void digest(const struct scratch *s, __u32 length, const struct settings *cfg, struct message_key *k) {
  __u32 a = cfg->seed_a ^ length, c = cfg->seed_b;
  for (__u32 i = ICMP_LEN; i < ICMP_MAX && i + 4 <= length; i += 4) {
    __u32 w = s->icmp[i] | (s->icmp[i + 1] << 8) | (s->icmp[i + 2] << 16) | ((__u32)s->icmp[i + 3] << 24);
    a = (a ^ w) * 0x9e3779b1;
    a ^= a >> 15;
    c = (c + w) * 0x85ebca77;
    c ^= c >> 13;
  }
  /* The bytes after the last whole word were zeroed by the caller: they enter as one more word. */
  __u32 tail = length & ~3u;
  if (tail < length && tail < ICMP_MAX) {
    __u32 w = s->icmp[tail] | (s->icmp[tail + 1] << 8) | (s->icmp[tail + 2] << 16) | ((__u32)s->icmp[tail + 3] << 24);
    a = (a ^ w) * 0x9e3779b1;
    c = (c + w) * 0x85ebca77;
  }
  k->digest_a = a;
  k->digest_b = c;
}

/* What the checks found, for the steering and the event. */
struct message {
  __u8 family;
  __u8 protocol;
  __u8 type;
  __u8 code;
  __u32 mtu;
  __u32 icmp_length;
  __u8 router[16];
  __u8 served[16];
  __u8 peer[16];
  __be16 served_port;
  __be16 peer_port;
};

static __always_inline int is_served(int family, const __u8 *address) {
  struct served_key k = { .prefixlen = family == 4 ? 32 : 128 };
  __builtin_memcpy(k.address, address, 16);
  return bpf_map_lookup_elem(family == 4 ? (void *)&served4 : (void *)&served6, &k) != 0;
}

/*
 * The quote: an IPv4 header (options skipped), or IPv6's fixed header followed at once by TCP or UDP, with the ports.
 * 1 when it is one this program can steer by, with `m`'s flow filled in.
 */
static __always_inline int read_quote(const struct scratch *s, struct message *m) {
  __u32 q = ICMP_LEN;
  __u32 quoted_length;
  __u32 transport;
  if (m->family == 4) {
    if (m->icmp_length < q + IPV4_LEN) return 0;
    __u8 vihl = s->icmp[q];
    __u32 ihl = (vihl & 0x0f) * 4;
    if ((vihl >> 4) != 4 || ihl < IPV4_LEN) return 0;
    quoted_length = ((__u32)s->icmp[q + 2] << 8) | s->icmp[q + 3];
    if (quoted_length < ihl) return 0;
    /* A non-first fragment quotes no ports. */
    if ((((__u32)s->icmp[q + 6] << 8 | s->icmp[q + 7]) & 0x1fff) != 0) return 0;
    m->protocol = s->icmp[q + 9];
    __builtin_memcpy(m->served, &s->icmp[q + 12], 4);
    __builtin_memcpy(m->peer, &s->icmp[q + 16], 4);
    transport = q + (ihl & 0x3c);
  } else {
    if (m->icmp_length < q + IPV6_LEN || (s->icmp[q] >> 4) != 6) return 0;
    quoted_length = IPV6_LEN + (((__u32)s->icmp[q + 4] << 8) | s->icmp[q + 5]);
    m->protocol = s->icmp[q + 6];
    __builtin_memcpy(m->served, &s->icmp[q + 8], 16);
    __builtin_memcpy(m->peer, &s->icmp[q + 24], 16);
    transport = q + IPV6_LEN;
  }
  if (m->protocol != IPPROTO_TCP && m->protocol != IPPROTO_UDP) return 0;
  if (transport + 4 > m->icmp_length || transport > 128) return 0;
  __builtin_memcpy(&m->served_port, &s->icmp[transport], 2);
  __builtin_memcpy(&m->peer_port, &s->icmp[transport + 2], 2);
  /* mtu-not-smaller: user space reports it. */
  return m->mtu < quoted_length;
}

/*
 * The outer header and the ICMP message, checked as relay-verdict.ts checks them; the message is copied to `s`.
 * 1 when every check passed.
 */
static __always_inline int read_message(struct __sk_buff *skb, struct scratch *s, const struct settings *cfg, struct message *m, __u8 *dscp,
                                        __u8 *target) {
  __u32 icmp;
  __u32 end;
  __s64 seed = 0;
  if (skb->protocol == bpf_htons(ETH_P_IP)) {
    __u8 ip[IPV4_LEN];
    if (bpf_skb_load_bytes(skb, ETH_LEN, ip, sizeof(ip)) != 0) return 0;
    /* Options: user space parses them. */
    if (ip[0] != 0x45 || ip[9] != IPPROTO_ICMP) return 0;
    if ((((__u32)ip[6] << 8 | ip[7]) & 0x3fff) != 0) return 0;
    if (fold(bpf_csum_diff(0, 0, (__be32 *)ip, IPV4_LEN, 0)) != 0xffff) return 0;
    m->family = 4;
    *dscp = ip[1] >> 2;
    __builtin_memcpy(m->router, &ip[12], 4);
    __builtin_memcpy(target, &ip[16], 4);
    icmp = ETH_LEN + IPV4_LEN;
    end = ETH_LEN + (((__u32)ip[2] << 8) | ip[3]);
  } else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
    __u8 ip[IPV6_LEN];
    if (bpf_skb_load_bytes(skb, ETH_LEN, ip, sizeof(ip)) != 0) return 0;
    /* Extension headers: user space walks them. */
    if ((ip[0] >> 4) != 6 || ip[6] != IPPROTO_ICMPV6) return 0;
    m->family = 6;
    *dscp = (((ip[0] & 0x0f) << 4) | (ip[1] >> 4)) >> 2;
    __builtin_memcpy(m->router, &ip[8], 16);
    __builtin_memcpy(target, &ip[24], 16);
    icmp = ETH_LEN + IPV6_LEN;
    end = icmp + (((__u32)ip[4] << 8) | ip[5]);
    seed = icmpv6_pseudo_sum(&ip[8], &ip[24], end - icmp);
  } else {
    return 0;
  }
  if (end > skb->len || end < icmp + ICMP_LEN + IPV4_LEN) return 0;
  __u32 length = end - icmp;
  if (length > ICMP_MAX) return 0;
  if (bpf_skb_load_bytes(skb, icmp, s->icmp, length) != 0) return 0;
  /* The checksum and the digest read whole words: the bytes after the message are zero. */
  s->icmp[length] = 0;
  s->icmp[length + 1] = 0;
  s->icmp[length + 2] = 0;
  m->icmp_length = length;
  m->type = s->icmp[0];
  m->code = s->icmp[1];
  if (m->family == 4) m->mtu = ((__u32)s->icmp[6] << 8) | s->icmp[7];
  else m->mtu = load_u32(&s->icmp[4]);
  if (fold(sum_icmp(s, length, seed)) != 0xffff) return 0;
  if (!is_served(m->family, target)) return 0;
  if (m->family == 4 ? m->mtu < 68 || m->mtu > cfg->max_mtu4 : m->mtu < 1280 || m->mtu > cfg->max_mtu6) return 0;
  if (!read_quote(s, m)) return 0;
  /* quote-not-served and quote-mismatch at once: the quoted source is the served address the message is sent to. */
  for (int i = 0; i < 16; i++)
    if (m->served[i] != target[i]) return 0;
  return 1;
}

/* The learned bits of the quoted flow's connection mark; 0 when conntrack has no such flow. */
static __always_inline __u32 learned_of(struct __sk_buff *skb, const struct message *m) {
  struct bpf_sock_tuple t = {};
  __u32 size;
  if (m->family == 4) {
    __builtin_memcpy(&t.ipv4.saddr, m->served, 4);
    __builtin_memcpy(&t.ipv4.daddr, m->peer, 4);
    t.ipv4.sport = m->served_port;
    t.ipv4.dport = m->peer_port;
    size = sizeof(t.ipv4);
  } else {
    __builtin_memcpy(t.ipv6.saddr, m->served, 16);
    __builtin_memcpy(t.ipv6.daddr, m->peer, 16);
    t.ipv6.sport = m->served_port;
    t.ipv6.dport = m->peer_port;
    size = sizeof(t.ipv6);
  }
  struct ct_opts opts = { .netns_id = -1, .l4proto = m->protocol };
  struct nf_conn *ct = bpf_skb_ct_lookup(skb, &t, size, &opts, sizeof(opts));
  if (!ct) return 0;
  __u32 learned = (ct->mark & LEARNED_MASK) >> LEARNED_SHIFT;
  bpf_ct_release(ct);
  return learned;
}

/* relay-limits.ts's order: duplicate, router, flow, total; tokens taken only when all four let it through. */
static __always_inline int limit(const struct settings *cfg, const struct scratch *s, const struct message *m, __u64 now) {
  struct message_key mk = {};
  mk.router.family = m->family;
  __builtin_memcpy(mk.router.address, m->router, 16);
  mk.mtu = m->mtu;
  mk.quote_length = m->icmp_length - ICMP_LEN;
  mk.type = m->type;
  mk.code = m->code;
  digest(s, m->icmp_length, cfg, &mk);
  if (cfg->dedup_ns != 0) {
    __u64 *at = bpf_map_lookup_elem(&admitted, &mk);
    if (at && (now < *at || now - *at < cfg->dedup_ns)) return DUPLICATE;
  }
  struct flow_key fk = { .family = m->family, .protocol = m->protocol, .served_port = m->served_port, .peer_port = m->peer_port };
  __builtin_memcpy(fk.served, m->served, 16);
  __builtin_memcpy(fk.peer, m->peer, 16);
  __u32 zero = 0;
  struct bucket *router = bucket_of(&router_buckets, &mk.router);
  struct bucket *flow = bucket_of(&flow_buckets, &fk);
  struct bucket *total = bpf_map_lookup_elem(&total_bucket, &zero);
  if (!router || !flow || !total) return TOTAL_LIMIT;
  if (!refill(router, cfg->router_rate, cfg->router_burst, now)) return ROUTER_LIMIT;
  if (!refill(flow, cfg->flow_rate, cfg->flow_burst, now)) return FLOW_LIMIT;
  if (!refill(total, cfg->total_rate, cfg->total_burst, now)) return TOTAL_LIMIT;
  router->nanotokens -= NS_PER_SECOND;
  flow->nanotokens -= NS_PER_SECOND;
  total->nanotokens -= NS_PER_SECOND;
  if (cfg->dedup_ns != 0) bpf_map_update_elem(&admitted, &mk, &now, BPF_ANY);
  return ADMITTED;
}

static __always_inline void report(const struct message *m, __u8 method, __u8 index, __u32 copies) {
  struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count(EVENTS_LOST, 1);
    return;
  }
  e->ns = bpf_ktime_get_ns();
  e->family = m->family;
  e->method = method;
  e->protocol = m->protocol;
  e->index = index;
  e->mtu = m->mtu;
  e->served_port = m->served_port;
  e->peer_port = m->peer_port;
  e->copies = copies;
  __builtin_memcpy(e->router, m->router, 16);
  __builtin_memcpy(e->served, m->served, 16);
  __builtin_memcpy(e->peer, m->peer, 16);
  bpf_ringbuf_submit(e, 0);
}

/* The packet's DSCP becomes the relayed one (ECN kept); the IPv4 header checksum follows. */
static __always_inline int mark_relayed(struct __sk_buff *skb, int family, __u32 dscp) {
  if (family == 4) {
    __u8 word[2];
    if (bpf_skb_load_bytes(skb, ETH_LEN, word, 2) != 0) return 0;
    __u16 before = *(__u16 *)word;
    word[1] = (dscp << 2) | (word[1] & 3);
    __u16 after = *(__u16 *)word;
    if (bpf_skb_store_bytes(skb, ETH_LEN, word, 2, 0) != 0) return 0;
    return bpf_l3_csum_replace(skb, ETH_LEN + 10, before, after, 2) == 0;
  }
  __u8 word[2];
  if (bpf_skb_load_bytes(skb, ETH_LEN, word, 2) != 0) return 0;
  __u8 tc = (dscp << 2) | ((word[1] >> 4) & 3);
  word[0] = 0x60 | (tc >> 4);
  word[1] = (tc << 4) | (word[1] & 0x0f);
  return bpf_skb_store_bytes(skb, ETH_LEN, word, 2, 0) == 0;
}

/*
 * The copy to peer `i` leaves straight from the interface toward it, its link header the neighbour's (the route to
 * the peer's address, as the kernel knows it): no second pass through this host's stack. 0 when the kernel does not
 * know the way or the neighbour yet.
 */
static __always_inline int copy_direct(struct __sk_buff *skb, struct scratch *s, __u32 i) {
  struct peer *p = bpf_map_lookup_elem(&peers, &i);
  if (!p) return 0;
  struct bpf_fib_lookup *fib = &s->fib;
  __builtin_memset(fib, 0, sizeof(*fib));
  fib->ifindex = skb->ifindex;
  if (p->family == 4) {
    fib->family = 2; /* AF_INET */
    __builtin_memcpy(&fib->ipv4_dst, p->address, 4);
  } else {
    fib->family = 10; /* AF_INET6 */
    __builtin_memcpy(fib->ipv6_dst, p->address, 16);
  }
  if (bpf_fib_lookup(skb, fib, sizeof(*fib), 0) != BPF_FIB_LKUP_RET_SUCCESS) return 0;
  if (bpf_skb_store_bytes(skb, 0, fib->dmac, 6, 0) != 0 || bpf_skb_store_bytes(skb, 6, fib->smac, 6, 0) != 0) return 0;
  return bpf_clone_redirect(skb, fib->ifindex, 0) == 0;
}

/*
 * A copy to each peer in `peers`: straight out toward it, or else cloned back into this ingress with the peer's route
 * mark, which passes it on here, and forwarded through its policy route.
 */
static __always_inline __u32 copy_to(struct __sk_buff *skb, struct scratch *s, const __u64 *candidates, __u32 original) {
  __u32 copies = 0;
  /* The link header as it came: a copy sent straight out rewrote it, and one cloned back in must be for this host. */
  __u8 arrived[12];
  if (bpf_skb_load_bytes(skb, 0, arrived, sizeof(arrived)) != 0) return 0;
  for (__u32 i = 0; i < PEERS - 1; i++) {
    if (!((candidates[i >> 6] >> (i & 63)) & 1)) continue;
    if (copy_direct(skb, s, i)) {
      copies++;
      continue;
    }
    if (bpf_skb_store_bytes(skb, 0, arrived, sizeof(arrived), 0) != 0) {
      count(COPIES_FAILED, 1);
      continue;
    }
    skb->mark = (original & ~(RELAY_MASK | OUTCOME_MASK)) | ROUTE_BIT | ((i + 1) << LEARNED_SHIFT);
    if (bpf_clone_redirect(skb, skb->ifindex, BPF_F_INGRESS) == 0) {
      copies++;
      count(COPIES_FORWARDED, 1);
    } else {
      count(COPIES_FAILED, 1);
    }
    skb->mark = original;
  }
  return copies;
}

SEC("tc")
int steer_packet_too_big(struct __sk_buff *skb) {
  /* Ours already (a copy, a steered message), or the relay's own injected messages. */
  if ((skb->mark & (ROUTE_BIT | OUTCOME_MASK)) != 0 || ((skb->mark & LEARNED_MASK) >> LEARNED_SHIFT) == INJECTED) return TCX_NEXT;
  if (skb->pkt_type != PACKET_HOST) return TCX_NEXT;
  __u32 zero = 0;
  struct settings *cfg = bpf_map_lookup_elem(&settings, &zero);
  struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
  if (!cfg || !s) return TCX_NEXT;
  /*
   * Cheap first: only what looks like a Packet Too Big goes further (an IPv4 header with options passes this, and the
   * checks below leave it to user space).
   */
  __u8 head[2];
  if (skb->protocol == bpf_htons(ETH_P_IP)) {
    __u8 ip[IPV4_LEN + 2];
    if (bpf_skb_load_bytes(skb, ETH_LEN, ip, sizeof(ip)) != 0 || ip[9] != IPPROTO_ICMP) return TCX_NEXT;
    __u32 at = (ip[0] & 0x0f) * 4;
    if (bpf_skb_load_bytes(skb, ETH_LEN + (at & 0x3c), head, 2) != 0 || head[0] != 3 || head[1] != 4) return TCX_NEXT;
  } else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
    __u8 ip[IPV6_LEN + 1];
    if (bpf_skb_load_bytes(skb, ETH_LEN, ip, sizeof(ip)) != 0) return TCX_NEXT;
    /* With extension headers it is the queue's, uncounted: ip6tables walks them to find the ICMPv6 type. */
    if (ip[6] != IPPROTO_ICMPV6 || ip[IPV6_LEN] != 2) return TCX_NEXT;
  } else {
    return TCX_NEXT;
  }
  struct message m = {};
  __u8 target[16] = {};
  __u8 dscp = 0;
  if (!read_message(skb, s, cfg, &m, &dscp, target) || dscp == cfg->relayed_dscp) {
    count(LEFT_TO_USER_SPACE, 1);
    return TCX_NEXT;
  }
  __u32 learned = learned_of(skb, &m);
  if (learned == INJECTED) {
    count(LEFT_TO_USER_SPACE, 1);
    return TCX_NEXT;
  }
  int outcome = limit(cfg, s, &m, bpf_ktime_get_ns());
  if (outcome != ADMITTED) {
    skb->mark = (skb->mark & ~OUTCOME_MASK) | ((__u32)outcome << OUTCOME_SHIFT);
    count(LIMITED, 1);
    return TCX_NEXT;
  }
  if (learned >= 1 && learned < SHARED_BASE) {
    __u32 peer = learned - 1;
    const __u64 *family = m.family == 4 ? cfg->peers4 : cfg->peers6;
    if ((family[(peer >> 6) & 1] >> (peer & 63)) & 1) {
      skb->mark = (skb->mark & ~RELAY_MASK) | ROUTE_BIT | (learned << LEARNED_SHIFT);
      count(RELAYED_OWNER, 1);
      report(&m, 0, peer, 0);
      return TCX_NEXT;
    }
  }
  __u64 candidates[2];
  const __u64 *all = m.family == 4 ? cfg->peers4 : cfg->peers6;
  candidates[0] = all[0];
  candidates[1] = all[1];
  __u8 method = 1;
  __u8 index = 0;
  if (learned >= SHARED_BASE) {
    __u32 i = learned - SHARED_BASE;
    __u64 *members = bpf_map_lookup_elem(&shared, &i);
    if (members && ((members[0] & all[0]) | (members[1] & all[1])) != 0) {
      candidates[0] = members[0] & all[0];
      candidates[1] = members[1] & all[1];
      method = 2;
      index = i;
    }
  }
  if ((candidates[0] | candidates[1]) == 0) {
    /* no-peer: user space says so. */
    count(LEFT_TO_USER_SPACE, 1);
    return TCX_NEXT;
  }
  if (!mark_relayed(skb, m.family, cfg->relayed_dscp)) {
    count(COPIES_FAILED, 1);
    return TCX_NEXT;
  }
  __u32 copies = copy_to(skb, s, candidates, skb->mark);
  count(method == 1 ? RELAYED_UNKNOWN : RELAYED_SHARED, 1);
  count(COPIES, copies);
  report(&m, method, index, copies);
  return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
