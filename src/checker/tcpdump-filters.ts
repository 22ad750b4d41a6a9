/**
 * tcpdump filters that show, on the client, what the checker's tests do to its packets: the ICMP errors the
 * server sends for the ICMP test, the fragments it sends for the fragments test, and the full-size segments of the
 * download test.
 */
import type { FamilyMap, IpFamily } from '../packet/ip-family.js';

export type CaptureFilterId = 'icmp-frag-needed' | 'icmpv6-packet-too-big' | 'ipv4-fragments' | 'ipv6-fragments' | 'ipv4-large-tcp' | 'ipv6-large-tcp';

/** What a filter is for, whatever server addresses it is narrowed to. */
interface CaptureFilterKind {
  readonly id: CaptureFilterId;
  readonly family: IpFamily;
  readonly title: string;
  /** What the filter matches and where it falls short. */
  readonly note: string;
}

export interface CaptureFilter extends CaptureFilterKind {
  /** The filter expression, narrowed to the server's addresses of this family when there are any. */
  readonly filter: string;
  /** The whole tcpdump command line, quoted for a POSIX shell. */
  readonly command: string;
}

/** The server's addresses the filters are narrowed to, per family. */
export type ServerAddresses = FamilyMap<readonly string[]>;

interface FilterTemplate extends CaptureFilterKind {
  readonly expression: string;
}

const TEMPLATES: readonly FilterTemplate[] = [
  {
    id: 'icmp-frag-needed',
    family: 4,
    title: 'ICMP "fragmentation needed" (IPv4, ICMP test)',
    expression: 'icmp[icmptype] == icmp-unreach and icmp[icmpcode] == 4',
    note: 'Type 3 (destination unreachable), code 4 (fragmentation needed and DF set); the same as icmp[0] == 3 and icmp[1] == 4.',
  },
  {
    id: 'icmpv6-packet-too-big',
    family: 6,
    title: 'ICMPv6 Packet Too Big (IPv6, ICMP test)',
    expression: 'icmp6 and ip6[40] == 2',
    note:
      'ICMPv6 type 2. ip6[40] is the first byte after the fixed IPv6 header, so this only works when the packet carries no ' +
      'extension headers (tcpdump cannot follow IPv6 extension header chains in a filter).',
  },
  {
    id: 'ipv4-fragments',
    family: 4,
    title: 'IPv4 fragments (fragments test)',
    expression: 'ip[6:2] & 0x3fff != 0',
    note: 'More-fragments flag or a non-zero fragment offset: every fragment, the first one included.',
  },
  {
    id: 'ipv6-fragments',
    family: 6,
    title: 'IPv6 fragments (fragments test)',
    expression: 'ip6[6] == 44',
    note: 'Next header 44 (fragment header) directly after the IPv6 header; a fragment header behind other extension headers is missed.',
  },
  {
    id: 'ipv4-large-tcp',
    family: 4,
    title: 'Large TCP packets (IPv4, download test)',
    expression: 'tcp and ip[2:2] > 1280',
    note:
      'TCP packets of more than 1280 bytes (IP total length), such as the full-size segments of the download test. None arriving while ' +
      'the server keeps retransmitting means they die on the way (a black hole); smaller ones after a while mean the server learnt a smaller MTU.',
  },
  {
    id: 'ipv6-large-tcp',
    family: 6,
    title: 'Large TCP packets (IPv6, download test)',
    expression: 'ip6 and tcp and ip6[4:2] > 1240',
    note: 'A payload length above 1240 bytes: IPv6 packets larger than 1280 bytes. Only TCP directly after the IPv6 header is matched.',
  },
];

/**
 * A word as a POSIX shell must see it: as it is when it holds nothing the shell would interpret, else single-quoted
 * (so that no quote, `;`, `$`, space or glob in it has an effect).
 */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_.:/@%+=,-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

function restrictToHosts(expression: string, addresses: readonly string[]): string {
  if (addresses.length === 0) return expression;
  // `and` and `or` bind equally (left to right) in pcap filters, so several hosts need their own parentheses.
  const hosts = addresses.map((a) => `host ${a}`);
  return `${expression} and ${hosts.length === 1 ? hosts[0] : `(${hosts.join(' or ')})`}`;
}

/** The filters for both families, each narrowed to the server's addresses of its family. */
export function clientCaptureFilters(serverAddresses: ServerAddresses): CaptureFilter[] {
  return TEMPLATES.map((t) => {
    const filter = restrictToHosts(t.expression, serverAddresses[t.family]);
    return { id: t.id, family: t.family, title: t.title, filter, command: `tcpdump -ni any ${shellQuote(filter)}`, note: t.note };
  });
}
