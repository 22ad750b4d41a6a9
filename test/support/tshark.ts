/**
 * tshark as an oracle: one row per frame, each requested field as the raw text `tshark -T fields` prints.
 *
 * Facts checked on TShark 4.0.17 (Debian 12) against captures from kernel-captures.ts:
 * - Prefs (from `tshark -G defaultprefs`): ip.check_checksum, tcp.check_checksum, udp.check_checksum (all default
 *   FALSE; turned on here), ip.defragment and ipv6.defragment (default TRUE; turned off here so each fragment is
 *   dissected alone). There is no ipv6/icmpv6 checksum pref: ICMPv6 is always verified.
 * - `*.checksum.status` prints the number: 0 = bad, 1 = good, 2 = unverified (e.g. UDP over a fragment, or a segment
 *   quoted in ICMP). Locally sent TCP/UDP on veth carries a partial (offloaded) checksum, so it shows 0 even when
 *   captured after forwarding.
 * - ip.frag_offset is in 8-byte units (a second fragment after 1480 bytes prints 185). ip.flags.df/mf print 1/0.
 *   ip.id prints hex ("0x487b"). ip.hdr_len prints bytes (20).
 * - IPv6 fragment header fields are ipv6.fraghdr.offset (8-byte units, 1448 bytes prints 181), ipv6.fraghdr.more
 *   (1/0), ipv6.fraghdr.ident (hex, "0xdce8d6d2"), ipv6.fraghdr.nxt. (ipv6.fragment.* are reassembly fields only.)
 * - ICMP next-hop MTU is icmp.mtu; ICMPv6 Packet Too Big MTU is icmpv6.mtu. Both print decimal (1400).
 * - ICMP errors quote the offending packet and tshark dissects it: with occurrence=a every layer field lists the outer
 *   value first, then the quoted one, comma-joined: ip.src "10.0.1.1,10.0.1.2", ip.len "576,1500" (the quoted header
 *   claims 1500 although only 548 bytes of it are present), icmp.type "3,8", icmpv6.type "2,128", ipv6.nxt "58,44".
 *   Quoted TCP has tcp.srcport but no tcp.len.
 * - tcp.flags prints hex ("0x0012" for SYN+ACK); tcp.options.mss_val decimal.
 * - `tcpdump -i any` (tcpdump 4.99.3 / libpcap 1.10.3) writes LINUX_SLL2 (link type 276); tshark dissects it as
 *   sll (sll.ifindex, sll.pkttype, sll.etype ...).
 */
import { execFile } from 'node:child_process';

export interface TsharkOptions {
  /** `-Y` display filter. */
  readonly displayFilter?: string;
  /** Extra `-o name:value` prefs, applied after the defaults so they can override them. */
  readonly prefs?: readonly string[];
  /** `-d` decode-as rules, e.g. 'udp.port==9999,dns'. */
  readonly decodeAs?: readonly string[];
}

export const DEFAULT_TSHARK_PREFS: readonly string[] = [
  'ip.check_checksum:TRUE',
  'tcp.check_checksum:TRUE',
  'udp.check_checksum:TRUE',
  'ip.defragment:FALSE',
  'ipv6.defragment:FALSE',
];

function tshark(argv: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('tshark', argv, { maxBuffer: 1024 * 1024 * 1024, encoding: 'utf8', timeout: 120_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`tshark ${argv.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** One record per displayed frame, keyed by field name; '' where tshark printed nothing for that field. */
export async function tsharkFields(path: string, fields: readonly string[], opts: TsharkOptions = {}): Promise<Record<string, string>[]> {
  if (fields.length === 0) throw new RangeError('tsharkFields needs at least one field');
  const argv: string[] = ['-r', path, '-n'];
  for (const pref of [...DEFAULT_TSHARK_PREFS, ...(opts.prefs ?? [])]) argv.push('-o', pref);
  for (const rule of opts.decodeAs ?? []) argv.push('-d', rule);
  if (opts.displayFilter !== undefined) argv.push('-Y', opts.displayFilter);
  argv.push('-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,', '-E', 'quote=n', '-E', 'header=n');
  for (const field of fields) argv.push('-e', field);

  const out = await tshark(argv);
  const lines = out.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((line) => {
    const values = line.split('\t');
    const row: Record<string, string> = {};
    fields.forEach((field, i) => {
      row[field] = values[i] ?? '';
    });
    return row;
  });
}

/** The version number, e.g. '4.0.17'. */
export async function tsharkVersion(): Promise<string> {
  const out = await tshark(['--version']);
  const match = /TShark \(Wireshark\) (\d+\.\d+\.\d+)/.exec(out);
  if (match?.[1] === undefined) throw new Error(`cannot find a version in: ${out.split('\n')[0] ?? ''}`);
  return match[1];
}
