/**
 * What a kernel drop means for path MTU and fragmentation, from its reason, the function that freed the packet and
 * what was measured about the packet (its length, the device's MTU, DF, the ICMP error the kernel sent). Every
 * sentence is built from those facts; where they do not say more, neither does the sentence.
 */

export interface DropFacts {
  /** The kernel's reason name without the SKB_DROP_REASON_ prefix, e.g. PKT_TOO_BIG; a number when unknown. */
  readonly reason: string;
  /** The function that freed it, without offset and compiler suffixes. */
  readonly function: string;
  readonly namespace: string;
  readonly device: string;
  /** The IP packet's length (the outer one, once encapsulated). */
  readonly length?: number;
  readonly deviceMtu?: number;
  readonly dontFragment?: boolean;
  readonly family?: 4 | 6;
  /** An ICMP error the kernel sent about this packet: type, code, MTU when it carried one, and to whom. */
  readonly icmpSent?: { readonly type: number; readonly code: number; readonly mtu?: number; readonly to?: string };
  /** The packet had been encapsulated (the tracer followed it from the inner packet). */
  readonly encapsulated?: { readonly tunnel: string; readonly innerLength?: number };
}

/** The function's name as the kernel's symbol says it, without `.constprop.0` and the like. */
export function functionName(symbol: string): string {
  return (symbol.split('+')[0] ?? symbol).replace(/(\.(constprop|isra|part|cold|llvm)(\.\d+)?)+$/, '');
}

function icmpName(family: 4 | 6 | undefined, type: number, code: number): string {
  if (family === 6 || type === 2) {
    const v6: Record<number, string> = { 1: 'destination unreachable', 2: 'Packet Too Big', 3: 'time exceeded', 4: 'parameter problem' };
    if (family === 6) return `ICMPv6 ${v6[type] ?? `type ${type}`}`;
  }
  if (type === 3 && code === 4) return 'ICMP fragmentation-needed';
  const v4: Record<number, string> = { 3: 'destination unreachable', 11: 'time exceeded', 12: 'parameter problem' };
  return `ICMP ${v4[type] ?? `type ${type}`} code ${code}`;
}

function icmpSentText(f: DropFacts): string {
  const s = f.icmpSent;
  if (s === undefined) return '';
  const mtu = s.mtu === undefined ? '' : ` (mtu ${s.mtu})`;
  const to = s.to === undefined ? '' : ` to ${s.to}`;
  return `; an ${icmpName(f.family, s.type, s.code)}${mtu} was sent${to}`;
}

function sizeText(f: DropFacts): string {
  if (f.length === undefined) return '';
  // Only when it says something true: in ip_forward the device is still the one the packet came in by, whose MTU it fits.
  const mtu = f.deviceMtu !== undefined && f.deviceMtu > 0 && f.length > f.deviceMtu ? ` > ${f.device}'s MTU ${f.deviceMtu}` : '';
  return ` (${f.length} bytes${mtu})`;
}

function encapText(f: DropFacts): string {
  if (f.encapsulated === undefined) return '';
  const inner = f.encapsulated.innerLength === undefined ? '' : ` of ${f.encapsulated.innerLength} bytes`;
  return `; it was a packet${inner} inside ${f.encapsulated.tunnel}: the encapsulation overhead made it too large`;
}

/** Reasons that are bookkeeping, not loss on a path (a closing socket's queue, unix sockets). */
export const BOOKKEEPING_REASONS: ReadonlySet<string> = new Set(['SOCKET_CLOSE', 'UNIX_DISCONNECT', 'UNIX_SKIP_OOB', 'QUEUE_PURGE']);

/**
 * Drops that are not a loss on a path: bookkeeping reasons, and an echo reply "dropped" by ping_rcv for want of an
 * ICMP socket while the raw socket of the pinger got its own copy. Reported, but not counted as a problem.
 */
export function isBenignDrop(reason: string, fn: string): boolean {
  return BOOKKEEPING_REASONS.has(reason) || (reason === 'NO_SOCKET' && fn === 'ping_rcv');
}

/** One sentence: where and why, and what it means for path MTU when the reason carries such a meaning. */
export function dropMeaning(f: DropFacts): string {
  const where = `dropped in ${f.function} (namespace ${f.namespace}${f.device === '' ? '' : `, device ${f.device}`})`;
  const tooBig =
    f.length !== undefined && f.deviceMtu !== undefined && f.deviceMtu > 0 && f.length > f.deviceMtu;
  if (f.reason === 'PKT_TOO_BIG' || /^(ip_fragment|ip_do_fragment|ip6_fragment|ip_forward|ip6_forward|ip6_xmit|ip6_finish_output2?)$/.test(f.function) && (tooBig || f.icmpSent !== undefined)) {
    const df = f.family === 6 ? 'IPv6 packets are never fragmented by routers' : f.dontFragment === true ? 'with DF set' : 'and it could not be fragmented';
    return `${where}: larger than the route MTU${sizeText(f)} ${df}${icmpSentText(f)}${encapText(f)}`;
  }
  if (/^__dev_forward_skb/.test(f.function) || /^veth_/.test(f.function)) {
    return `${where}: refused on its way into the other end of the veth pair${f.length === undefined ? '' : ` (${f.length} bytes)`}: larger than that end's MTU (an MTU mismatch between the two ends), or that end is down`;
  }
  switch (f.reason) {
    case 'NETFILTER_DROP':
      return `netfilter drop in namespace ${f.namespace}: a firewall rule (iptables/nftables) dropped it${f.device === '' ? '' : ` (device ${f.device})`}`;
    case 'FRAG_REASM_TIMEOUT':
      return `${where}: a fragment whose other fragments never arrived; reassembly gave up after its timeout`;
    case 'DUP_FRAG':
      return `${where}: a fragment duplicating one already received`;
    case 'FRAG_TOO_FAR':
      return `${where}: a fragment too far ahead of its datagram's others (ipfrag_max_dist)`;
    case 'SKB_GSO_SEG':
      return `${where}: segmenting a large (GSO) packet failed; the article's IPVS/GUE bug (a negative tunnel header length, fixed in Linux 6.4) dropped packets here`;
    case 'NO_SOCKET':
      return f.function === 'ping_rcv'
        ? `${where}: no ICMP socket for this echo reply (normal when the pinger uses a raw socket, as iputils ping does: it got its own copy)`
        : `${where}: no socket for it (nothing listens on that port, or the connection is gone)`;
    case 'IP_OUTNOROUTES':
    case 'IP_INNOROUTES':
      return `${where}: no route to its destination`;
    case 'IP_RPFILTER':
      return `${where}: reverse-path filter (rp_filter): the route back to its source leaves by another interface`;
    case 'QDISC_DROP':
    case 'QDISC_OVERLIMIT':
    case 'QDISC_CONGESTED':
      return `${where}: the device's queue (qdisc) was full or over its limit`;
    case 'NEIGH_FAILED':
    case 'NEIGH_QUEUEFULL':
    case 'NEIGH_CREATEFAIL':
    case 'NEIGH_DEAD':
      return `${where}: the next hop's link-layer address could not be resolved (ARP/neighbour discovery)`;
    case 'OTHERHOST':
      return `${where}: addressed to another host's link-layer address`;
    case 'IP_INHDR':
    case 'IP_CSUM':
    case 'TCP_CSUM':
    case 'UDP_CSUM':
    case 'ICMP_CSUM':
      return `${where}: a malformed header or bad checksum (${f.reason})`;
    default:
      break;
  }
  if (BOOKKEEPING_REASONS.has(f.reason)) return `${where}: ${f.reason} - the queue of a socket being closed, not a loss on the path`;
  if (tooBig) return `${where}: reason ${f.reason}; it was larger than ${f.device}'s MTU${sizeText(f)}`;
  return `${where}: reason ${f.reason}`;
}
