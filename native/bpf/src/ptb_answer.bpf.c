/*
 * mtuscope checker: the /icmp test's Packet Too Big answered in the kernel's datapath.
 *
 * Attached to the ingress of the checker host's interfaces (tcx), with note_server_isn at their egress. The engine
 * tells it of each connection it tracks (`openings`); a connection whose first data segment is an /icmp request and
 * acknowledges the server's SYN-ACK becomes a test (`tests`). For a client
 * segment of a test that is larger than the test MTU (with DF for IPv4), within the test's window, it sends the client
 * an ICMP "fragmentation needed" / ICMPv6 Packet Too Big from the server's address, as a router with that next-hop MTU
 * would, and drops the segment. The engine in user space still sees every segment: the one answered here reaches its
 * netfilter queue as a clone marked "answered", so its verdicts, counters and timeline stay complete. Answering in
 * user space put the netfilter queue, a wake-up and a sendto(2) between the segment and its answer: 16-35x the kernel
 * router's own delay (docs/benchmarks.md, bench/checker).
 *
 * What it cannot answer exactly as the engine would (short IPv4 test MTUs, whose quote would be shorter) it leaves to
 * the engine, unmarked. Rate limits (per client and in total) are the engine's, applied here to the answers sent here; a
 * segment they hold back is marked so that the engine drops it without an answer, as it would have.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "tc_common.h"

#define IPV4_LEN 20
#define IPV6_LEN 40
#define ICMP_LEN 8
/* RFC 1812 4.3.2.3 / RFC 4443 2.4(c), as src/packet/packet-too-big.ts: the whole message is 576 / 1280 bytes. */
#define IPV4_MESSAGE 576
#define IPV6_MESSAGE 1280
#define IPV4_QUOTE (IPV4_MESSAGE - IPV4_LEN - ICMP_LEN)
#define IPV6_QUOTE (IPV6_MESSAGE - IPV6_LEN - ICMP_LEN)
#define STARTS 16
#define IPV4_DF 0x4000
#define IPV4_MF_OFFSET 0x3fff

/* The key of a connection: src/engine/kernel-answer-layout.ts writes the same 40 bytes. */
struct test_key {
  __u8 family; /* 4 or 6 */
  __u8 pad[3];
  __u8 client[16]; /* IPv4: the first 4 bytes, the rest zero */
  __u8 server[16];
  __be16 client_port;
  __be16 server_port;
};

struct test_value {
  __u32 mtu;
  __u32 pad;
  /* When this program first dropped a segment of the test (CLOCK_MONOTONIC ns): its window runs from here, as the engine's. */
  __u64 first_drop_ns;
  /*
   * Messages sent, and held back by the rate limits. The engine counts from these: a packet the server received as
   * one (GRO, or a veth carrying the sender's TSO) reaches its queue as several segments but is answered once, as
   * the kernel's own router answers it.
   */
  __u32 answers;
  __u32 held_back;
  /*
   * The client sequence number of each packet decided (answered or held back), the n-th at starts[n % STARTS]: the
   * engine tells by it which of the segments it sees began a packet, and so carried its one answer.
   */
  __u32 decisions;
  __u32 starts[STARTS];
};

struct settings {
  __u32 answered_mark;
  __u32 held_back_mark;
  __u64 window_ns;
  __u64 client_rate;
  __u64 client_burst;
  __u64 global_rate;
  __u64 global_burst;
  __u32 ipv6_client_prefix;
  __be16 server_port;
  __u16 pad;
  /* The test MTU of each family. */
  __u32 mtu4;
  __u32 mtu6;
};

/*
 * A connection the engine tracks (it inserts one when it lets the SYN through, so before the server's SYN-ACK and long
 * before the client's first data) whose first data segment did not come yet: its request decides whether it is a test.
 * Only the engine's connections: those its queue rules see, to the service's own addresses. And only once the client
 * proved it got the server's SYN-ACK, as the engine requires before it answers: a client address can be spoofed for
 * a SYN and a request, not for an acknowledgement of a sequence number it never saw.
 */
struct opening {
  __u32 client_isn;
  /* From the server's SYN-ACK (note_server_isn, at egress): the client's first data must acknowledge it. */
  __u32 server_isn;
  __u32 server_isn_seen;
};


struct client_key {
  __u8 family;
  __u8 pad[3];
  __u8 prefix[16];
};

struct frame {
  __u8 bytes[ETH_LEN + IPV6_MESSAGE];
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, struct test_key);
  __type(value, struct test_value);
} tests SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct settings);
} settings SEC(".maps");

/* Least recently used first out: openings the engine never forgets (its table full, a restart) age out. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, struct test_key);
  __type(value, struct opening);
} openings SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct client_key);
  __type(value, struct bucket);
} client_buckets SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct bucket);
} global_bucket SEC(".maps");

/* Where the message is built: too large for the 512-byte stack. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct frame);
} scratch SEC(".maps");

/* What happened, for the engine's statistics: indexed by enum outcome. */
enum outcome { ANSWERED, HELD_BACK, LEFT_SHORT, LEFT_FAILED, OUTCOMES };
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, OUTCOMES);
  __type(key, __u32);
  __type(value, __u64);
} outcomes SEC(".maps");

static __always_inline void count(__u32 outcome) {
  __u64 *n = bpf_map_lookup_elem(&outcomes, &outcome);
  if (n) *n += 1;
}

/* The client as the engine's rate limits count it (src/engine/client-key.ts): an IPv4 address, an IPv6 prefix. */
static __always_inline void client_of(struct client_key *k, const struct test_key *t, __u32 prefix) {
  k->family = t->family;
  for (int i = 0; i < 16; i++) {
    __u32 bits = i * 8;
    __u8 mask = 0;
    if (t->family == 4 || prefix >= bits + 8) mask = 0xff;
    else if (prefix > bits) mask = (__u8)(0xff << (8 - (prefix - bits)));
    k->prefix[i] = t->client[i] & mask;
  }
}

static __always_inline int rate_allows(const struct settings *s, const struct test_key *t, __u64 now) {
  struct client_key ck = {};
  client_of(&ck, t, s->ipv6_client_prefix);
  struct bucket *cb = bpf_map_lookup_elem(&client_buckets, &ck);
  if (!cb) {
    struct bucket fresh = {};
    bpf_map_update_elem(&client_buckets, &ck, &fresh, BPF_NOEXIST);
    cb = bpf_map_lookup_elem(&client_buckets, &ck);
    if (!cb) return 0;
  }
  __u32 zero = 0;
  struct bucket *gb = bpf_map_lookup_elem(&global_bucket, &zero);
  if (!gb) return 0;
  /* Both or neither, as ClientRateLimiter: a refusal by one does not drain the other. */
  struct bucket client_try = *cb, global_try = *gb;
  if (!take_token(&client_try, s->client_rate, s->client_burst, now)) {
    *cb = client_try;
    return 0;
  }
  if (!take_token(&global_try, s->global_rate, s->global_burst, now)) {
    *gb = global_try;
    return 0;
  }
  *cb = client_try;
  *gb = global_try;
  return 1;
}

/* The packet becomes the message built in `f` (`length` bytes, Ethernet header first) and leaves where it came in. */
static __always_inline long send_frame(struct __sk_buff *skb, struct frame *f, __u32 length) {
  __u32 ifindex = skb->ifindex;
  if (bpf_skb_change_tail(skb, length, 0) != 0) return -1;
  if (length > sizeof(f->bytes)) return -1;
  if (bpf_skb_store_bytes(skb, 0, f->bytes, length, BPF_F_RECOMPUTE_CSUM) != 0) return -1;
  /* The stack that receives it checks its sums: nothing about the old packet's checksum state holds any more. */
  bpf_csum_level(skb, BPF_CSUM_LEVEL_RESET);
  return bpf_redirect(ifindex, 0);
}

/*
 * The answer goes back to the neighbour the segment came from, from the address it was sent to. The kernel would look
 * the way back up in its routing table, but bpf_fib_lookup() refuses to where forwarding is off, as on most servers;
 * and the neighbour that forwarded the client's packets is one that reaches the client.
 */
static __always_inline int write_eth(struct __sk_buff *skb, struct frame *f, __u16 proto) {
  __u8 eth[12];
  if (bpf_skb_load_bytes(skb, 0, eth, sizeof(eth)) != 0) return 0;
  __builtin_memcpy(&f->bytes[0], &eth[6], 6);
  __builtin_memcpy(&f->bytes[6], &eth[0], 6);
  f->bytes[12] = proto >> 8;
  f->bytes[13] = proto & 0xff;
  return 1;
}

static __always_inline void note_decision(struct test_value *test, __u32 seq) {
  __u32 n = __sync_fetch_and_add(&test->decisions, 1);
  test->starts[n & (STARTS - 1)] = seq;
}

/*
 * The engine sees a clone of the segment, marked: it counts, records and drops it. The clone re-enters this
 * interface's ingress, where the mark makes this program pass it on.
 */
static __always_inline int show_engine(struct __sk_buff *skb, __u32 mark) {
  __u32 original = skb->mark;
  skb->mark = mark;
  long err = bpf_clone_redirect(skb, skb->ifindex, BPF_F_INGRESS);
  skb->mark = original;
  return err == 0;
}

/* "Fragmentation needed" (RFC 1191) from the server to the client, quoting the first 548 bytes of the segment. */
static __always_inline int build_ipv4(struct __sk_buff *skb, struct frame *f, const struct test_key *key, __u32 mtu) {
  __u8 *ip = &f->bytes[ETH_LEN];
  __u8 *icmp = &f->bytes[ETH_LEN + IPV4_LEN];
  if (bpf_skb_load_bytes(skb, ETH_LEN, &f->bytes[ETH_LEN + IPV4_LEN + ICMP_LEN], IPV4_QUOTE) != 0) return 0;
  if (!write_eth(skb, f, ETH_P_IP)) return 0;
  __u32 ident = bpf_get_prandom_u32();
  ip[0] = 0x45;
  ip[1] = 0;
  ip[2] = IPV4_MESSAGE >> 8;
  ip[3] = IPV4_MESSAGE & 0xff;
  ip[4] = ident >> 8;
  ip[5] = ident & 0xff;
  ip[6] = 0;
  ip[7] = 0;
  ip[8] = 64;
  ip[9] = IPPROTO_ICMP;
  ip[10] = 0;
  ip[11] = 0;
  __builtin_memcpy(&ip[12], key->server, 4);
  __builtin_memcpy(&ip[16], key->client, 4);
  __u16 ip_sum = (__u16)~fold(bpf_csum_diff(0, 0, (__be32 *)ip, IPV4_LEN, 0));
  __builtin_memcpy(&ip[10], &ip_sum, 2);
  icmp[0] = 3; /* destination unreachable */
  icmp[1] = 4; /* fragmentation needed and DF set */
  icmp[2] = 0;
  icmp[3] = 0;
  icmp[4] = 0;
  icmp[5] = 0;
  icmp[6] = (mtu >> 8) & 0xff;
  icmp[7] = mtu & 0xff;
  __s64 sum = bpf_csum_diff(0, 0, (__be32 *)icmp, 512, 0);
  sum = bpf_csum_diff(0, 0, (__be32 *)&icmp[512], ICMP_LEN + IPV4_QUOTE - 512, sum);
  __u16 icmp_sum = (__u16)~fold(sum);
  __builtin_memcpy(&icmp[2], &icmp_sum, 2);
  return 1;
}

/* Packet Too Big (RFC 4443) from the server to the client, quoting the first 1232 bytes of the segment. */
static __always_inline int build_ipv6(struct __sk_buff *skb, struct frame *f, const struct test_key *key, __u32 mtu) {
  __u8 *ip = &f->bytes[ETH_LEN];
  __u8 *icmp = &f->bytes[ETH_LEN + IPV6_LEN];
  if (bpf_skb_load_bytes(skb, ETH_LEN, &f->bytes[ETH_LEN + IPV6_LEN + ICMP_LEN], IPV6_QUOTE) != 0) return 0;
  if (!write_eth(skb, f, ETH_P_IPV6)) return 0;
  __u32 payload = ICMP_LEN + IPV6_QUOTE;
  ip[0] = 0x60;
  ip[1] = 0;
  ip[2] = 0;
  ip[3] = 0;
  ip[4] = payload >> 8;
  ip[5] = payload & 0xff;
  ip[6] = IPPROTO_ICMPV6;
  ip[7] = 64;
  __builtin_memcpy(&ip[8], key->server, 16);
  __builtin_memcpy(&ip[24], key->client, 16);
  icmp[0] = 2; /* Packet Too Big */
  icmp[1] = 0;
  icmp[2] = 0;
  icmp[3] = 0;
  icmp[4] = (mtu >> 24) & 0xff;
  icmp[5] = (mtu >> 16) & 0xff;
  icmp[6] = (mtu >> 8) & 0xff;
  icmp[7] = mtu & 0xff;
  __s64 sum = icmpv6_pseudo_sum(key->server, key->client, payload);
  sum = bpf_csum_diff(0, 0, (__be32 *)icmp, 512, sum);
  sum = bpf_csum_diff(0, 0, (__be32 *)&icmp[512], 512, sum);
  sum = bpf_csum_diff(0, 0, (__be32 *)&icmp[1024], ICMP_LEN + IPV6_QUOTE - 1024, sum);
  __u16 icmp_sum = (__u16)~fold(sum);
  __builtin_memcpy(&icmp[2], &icmp_sum, 2);
  return 1;
}

struct segment {
  __u32 ip_length;
  /* The IP length of each packet it stands for on the wire: of its segments for a GRO/GSO packet. */
  __u32 wire_length;
  __u32 seq;
  __u32 ack;
  __u32 payload_offset;
  __u32 payload_length;
  __u8 dont_fragment;
  __u8 flags;
};


/*
 * Reads `key` (client and server by `outgoing`: the client is the source of a packet in, the destination of one out)
 * and the rest of a TCP segment into `seg`; 0 for anything but TCP directly over IP (an unfragmented packet or the
 * first fragment).
 */
static __always_inline int read_segment(struct __sk_buff *skb, struct test_key *key, struct segment *seg, int outgoing) {
  __u32 transport;
  __u32 ip_length;
  if (skb->protocol == bpf_htons(ETH_P_IP)) {
    struct iphdr ip;
    if (bpf_skb_load_bytes(skb, ETH_LEN, &ip, sizeof(ip)) != 0) return 0;
    if (ip.version != 4 || ip.ihl < 5 || ip.protocol != IPPROTO_TCP) return 0;
    __u16 frag = bpf_ntohs(ip.frag_off);
    if ((frag & IPV4_MF_OFFSET) != 0) return 0;
    seg->dont_fragment = (frag & IPV4_DF) != 0;
    key->family = 4;
    __builtin_memcpy(key->client, outgoing ? &ip.daddr : &ip.saddr, 4);
    __builtin_memcpy(key->server, outgoing ? &ip.saddr : &ip.daddr, 4);
    transport = ETH_LEN + ip.ihl * 4;
    ip_length = bpf_ntohs(ip.tot_len);
  } else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr ip;
    if (bpf_skb_load_bytes(skb, ETH_LEN, &ip, sizeof(ip)) != 0) return 0;
    /* Extension headers before TCP: the engine's codecs handle those. */
    if (ip.version != 6 || ip.nexthdr != IPPROTO_TCP) return 0;
    key->family = 6;
    __builtin_memcpy(key->client, outgoing ? &ip.daddr : &ip.saddr, 16);
    __builtin_memcpy(key->server, outgoing ? &ip.saddr : &ip.daddr, 16);
    transport = ETH_LEN + IPV6_LEN;
    seg->dont_fragment = 1;
    ip_length = IPV6_LEN + bpf_ntohs(ip.payload_len);
  } else {
    return 0;
  }
  __u8 tcp[14];
  if (bpf_skb_load_bytes(skb, transport, tcp, sizeof(tcp)) != 0) return 0;
  __builtin_memcpy(&key->client_port, &tcp[outgoing ? 2 : 0], 2);
  __builtin_memcpy(&key->server_port, &tcp[outgoing ? 0 : 2], 2);
  __u32 headers = transport - ETH_LEN + (tcp[12] >> 4) * 4;
  if (ip_length < headers) return 0;
  seg->ip_length = ip_length;
  seg->wire_length = skb->gso_segs > 1 ? headers + skb->gso_size : ip_length;
  seg->seq = ((__u32)tcp[4] << 24) | ((__u32)tcp[5] << 16) | ((__u32)tcp[6] << 8) | tcp[7];
  seg->ack = ((__u32)tcp[8] << 24) | ((__u32)tcp[9] << 16) | ((__u32)tcp[10] << 8) | tcp[11];
  seg->flags = tcp[13];
  seg->payload_offset = ETH_LEN + headers;
  seg->payload_length = ip_length - headers;
  return 1;
}

static __always_inline int starts_with(const __u8 *bytes, const char *text, int length) {
  for (int i = 0; i < length; i++)
    if (bytes[i] != (__u8)text[i]) return 0;
  return 1;
}

static __always_inline int ends_path(__u8 c) {
  return c == '?' || c == '#' || c == ' ';
}

/* The request line of an /icmp test, as src/engine/tracked-connection.ts's modeOfRequest reads it. */
static __always_inline int is_icmp_request(struct __sk_buff *skb, const struct segment *seg) {
  __u8 head[11];
  if (seg->payload_length < sizeof(head) || bpf_skb_load_bytes(skb, seg->payload_offset, head, sizeof(head)) != 0) return 0;
  if (starts_with(head, "GET /icmp", 9) || starts_with(head, "PUT /icmp", 9)) return ends_path(head[9]);
  if (starts_with(head, "POST /icmp", 10) || starts_with(head, "HEAD /icmp", 10)) return ends_path(head[10]);
  return 0;
}

/*
 * The test of this connection, armed at its first data segment when that is an /icmp request: the engine decides the
 * same from the same segment, but only once the segment reached it, after the rest of the client's first burst.
 */
static __always_inline struct test_value *test_of(struct __sk_buff *skb, const struct settings *s, const struct test_key *key,
                                                  const struct segment *seg) {
  struct test_value *test = bpf_map_lookup_elem(&tests, key);
  if (test || seg->payload_length == 0) return test;
  struct opening *o = bpf_map_lookup_elem(&openings, key);
  if (!o || seg->seq != o->client_isn + 1 || !o->server_isn_seen || seg->ack != o->server_isn + 1) return 0;
  bpf_map_delete_elem(&openings, key);
  if (!is_icmp_request(skb, seg)) return 0;
  struct test_value fresh = {};
  fresh.mtu = key->family == 4 ? s->mtu4 : s->mtu6;
  bpf_map_update_elem(&tests, key, &fresh, BPF_NOEXIST);
  return bpf_map_lookup_elem(&tests, key);
}

SEC("tc")
int answer_packet_too_big(struct __sk_buff *skb) {
  __u32 zero = 0;
  struct settings *s = bpf_map_lookup_elem(&settings, &zero);
  if (!s || skb->mark == s->answered_mark || skb->mark == s->held_back_mark || skb->pkt_type != PACKET_HOST) return TCX_NEXT;
  struct test_key key = {};
  struct segment seg = {};
  if (!read_segment(skb, &key, &seg, 0) || key.server_port != s->server_port) return TCX_NEXT;
  struct test_value *test = test_of(skb, s, &key, &seg);
  /* A router fragments a packet without DF rather than signal: nothing to answer (icmp-probe.ts). */
  if (!test || seg.wire_length <= test->mtu || !seg.dont_fragment) return TCX_NEXT;
  __u32 ip_length = seg.ip_length;
  __u64 now = bpf_ktime_get_ns();
  /* After the window the engine lets everything through so that the upload completes; so does this program. */
  if (test->first_drop_ns != 0 && now - test->first_drop_ns >= s->window_ns) return TCX_NEXT;
  __u32 quote = key.family == 4 ? IPV4_QUOTE : IPV6_QUOTE;
  if (ip_length < quote || skb->len < ETH_LEN + ip_length) {
    count(LEFT_SHORT);
    return TCX_NEXT;
  }
  if (!rate_allows(s, &key, now)) {
    if (test->first_drop_ns == 0) test->first_drop_ns = now;
    note_decision(test, seg.seq);
    __sync_fetch_and_add(&test->held_back, 1);
    skb->mark = s->held_back_mark;
    count(HELD_BACK);
    return TCX_NEXT;
  }
  struct frame *f = bpf_map_lookup_elem(&scratch, &zero);
  if (!f) return TCX_NEXT;
  int built = key.family == 4 ? build_ipv4(skb, f, &key, test->mtu) : build_ipv6(skb, f, &key, test->mtu);
  if (!built) {
    count(LEFT_FAILED);
    return TCX_NEXT;
  }
  if (!show_engine(skb, s->answered_mark)) {
    count(LEFT_FAILED);
    return TCX_NEXT;
  }
  /* The engine reads these once the clone reached it: with RPS another CPU may run it at once, so the race is possible
     but needs that CPU to be faster than the next few instructions here; it would count the answer on the next segment. */
  note_decision(test, seg.seq);
  __sync_fetch_and_add(&test->answers, 1);
  if (test->first_drop_ns == 0) test->first_drop_ns = now;
  long sent = key.family == 4 ? send_frame(skb, f, ETH_LEN + IPV4_MESSAGE) : send_frame(skb, f, ETH_LEN + IPV6_MESSAGE);
  if (sent < 0) {
    /* The engine already has the clone: the segment is dropped as it expects, but unanswered, and not counted as sent. */
    __sync_fetch_and_add(&test->answers, -1);
    count(LEFT_FAILED);
    return TC_ACT_SHOT;
  }
  count(ANSWERED);
  return (int)sent;
}

/*
 * At egress: the server's SYN-ACK of a connection the engine told of, whose sequence number the client's first data
 * must acknowledge (test_of). Lets everything through.
 */
SEC("tc")
int note_server_isn(struct __sk_buff *skb) {
  __u32 zero = 0;
  struct settings *s = bpf_map_lookup_elem(&settings, &zero);
  if (!s) return TCX_NEXT;
  struct test_key key = {};
  struct segment seg = {};
  /* SYN and ACK, nothing else of RST/FIN. */
  if (!read_segment(skb, &key, &seg, 1) || key.server_port != s->server_port || (seg.flags & 0x17) != 0x12) return TCX_NEXT;
  struct opening *o = bpf_map_lookup_elem(&openings, &key);
  if (!o) return TCX_NEXT;
  o->server_isn = seg.seq;
  o->server_isn_seen = 1;
  return TCX_NEXT;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
