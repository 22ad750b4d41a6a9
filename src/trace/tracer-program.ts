/**
 * The bpftrace program behind `mtuscope trace`, generated from the filter and options: a handful of tracepoints
 * (no kprobes: this kind of machine has none; research/trace.md), each reading the skb it is handed.
 *
 * A packet is traced from the first tracepoint at which it matches (netns, interface, mark and filter), and from
 * then on followed by its skb address whatever its headers say: after VXLAN/GUE encapsulation or NAT the filter no
 * longer matches, the address does. An ICMP error whose quoted packet matches the filter is traced too (the
 * "fragmentation needed" a router sends back for one of the packets; and whether it got through).
 *
 * Every event is one tab-separated line (see trace-event.ts, which parses exactly these fields). The kernel side
 * counts the lines it emits (`@emitted`), so that events the perf buffer lost are counted, never silently missing.
 */
import type { FilterExpr } from './trace-filter.js';

/** The tracepoints the program attaches to; `mtuscope trace` checks each exists before it starts. */
export const DROP_TRACEPOINTS = ['skb:kfree_skb', 'icmp:icmp_send'] as const;

/** The tracepoint of the stop probe: optional (see TracerProgramOptions.stopProbe). */
export const STOP_TRACEPOINT = 'syscalls:sys_enter_kill';

export const TRACEPOINTS = [
  'net:netif_receive_skb',
  'net:net_dev_queue',
  'net:net_dev_xmit',
  'skb:kfree_skb',
  'skb:consume_skb',
  'icmp:icmp_send',
] as const;

/**
 * Byte offsets of the kernel fields the program reads, from this kernel's BTF (kernel-layout.ts): the program reads
 * plain addresses instead of casting to `struct sk_buff *`, which would make bpftrace parse the kernel's types with
 * clang at every start (about a second).
 */
export interface KernelLayout {
  readonly skbDev: number;
  readonly skbSk: number;
  readonly skbLen: number;
  readonly skbMark: number;
  readonly skbNetworkHeader: number;
  readonly skbHead: number;
  readonly skbData: number;
  readonly devNet: number;
  readonly devName: number;
  readonly devIfindex: number;
  readonly devMtu: number;
  readonly netInum: number;
  readonly sockNet: number;
}

export interface TracerProgramOptions {
  readonly filter: FilterExpr | undefined;
  /** Network namespace inodes a packet must be seen in to start being traced; empty: every namespace. */
  readonly netns: readonly number[];
  readonly ifname?: string;
  readonly mark?: { readonly value: number; readonly mask: number };
  /** Trace ICMP errors that quote a matching packet (default true). */
  readonly icmpErrors?: boolean;
  /**
   * `timeline` (default): every event of a traced packet. `drops`: only drops and the ICMP errors the kernel sends,
   * two tracepoints instead of six, for callers that want the summary alone (lab reports).
   */
  readonly probes?: 'timeline' | 'drops';
  /** The stop probe on syscalls:sys_enter_kill (default true; kernels without syscall tracepoints are stopped by SIGINT). */
  readonly stopProbe?: boolean;
  /** A followed skb address not seen for this long is forgotten: the memory may hold another packet by then. */
  readonly followTimeoutMs?: number;
}

export const DEFAULT_FOLLOW_TIMEOUT_MS = 2000;

/** Header variables of one IP header: the packet's own (prefix "") or the one quoted by an ICMP error ("q"). */
function headerVariables(p: string): string[] {
  return [`$${p}v`, `$${p}l4`, `$${p}sp`, `$${p}dp`, `$${p}len`, `$${p}fo`, `$${p}s0`, `$${p}s1`, `$${p}d0`, `$${p}d1`];
}

/** Reads the IP header at `$<p>nh` (and the ports or ICMP type/code after it) into the variables of prefix p. */
function headerCode(p: string, indent: string): string {
  const v = (name: string): string => `$${p}${name}`;
  const lines = [
    ...headerVariables(p).map((x) => `${x} = (uint64)0;`),
    `${v('th')} = ${v('nh')};`,
    `${v('b0')} = *(uint8 *)${v('nh')};`,
    `if ((${v('b0')} >> 4) == 4) {`,
    `  ${v('v')} = (uint64)4;`,
    `  ${v('len')} = (uint64)bswap(*(uint16 *)(${v('nh')} + 2));`,
    `  ${v('fo')} = (uint64)(bswap(*(uint16 *)(${v('nh')} + 6)) & 0x1fff);`,
    `  ${v('l4')} = (uint64)*(uint8 *)(${v('nh')} + 9);`,
    `  ${v('s0')} = (uint64)*(uint32 *)(${v('nh')} + 12);`,
    `  ${v('d0')} = (uint64)*(uint32 *)(${v('nh')} + 16);`,
    `  ${v('th')} = ${v('nh')} + (${v('b0')} & 15) * 4;`,
    `} else if ((${v('b0')} >> 4) == 6) {`,
    `  ${v('v')} = (uint64)6;`,
    `  ${v('len')} = (uint64)bswap(*(uint16 *)(${v('nh')} + 4)) + 40;`,
    `  ${v('l4')} = (uint64)*(uint8 *)(${v('nh')} + 6);`,
    ...[0, 1].map((i) => `  ${v(`s${i}`)} = *(uint64 *)(${v('nh')} + ${8 + 8 * i});`),
    ...[0, 1].map((i) => `  ${v(`d${i}`)} = *(uint64 *)(${v('nh')} + ${24 + 8 * i});`),
    `  ${v('th')} = ${v('nh')} + 40;`,
    // The Fragment header, the one extension header that matters here; others end the port lookup (ports stay 0).
    `  if (${v('l4')} == 44) {`,
    `    ${v('l4')} = (uint64)*(uint8 *)${v('th')};`,
    `    ${v('fo')} = (uint64)(bswap(*(uint16 *)(${v('th')} + 2)) & 0xfff8);`,
    `    ${v('th')} = ${v('th')} + 8;`,
    `  }`,
    `}`,
    `if (${v('v')} != 0 && ${v('fo')} == 0) {`,
    `  if (${v('l4')} == 6 || ${v('l4')} == 17) {`,
    `    ${v('sp')} = (uint64)bswap(*(uint16 *)${v('th')});`,
    `    ${v('dp')} = (uint64)bswap(*(uint16 *)(${v('th')} + 2));`,
    `  } else if (${v('l4')} == 1 || ${v('l4')} == 58) {`,
    `    ${v('sp')} = (uint64)*(uint8 *)${v('th')};`,
    `    ${v('dp')} = (uint64)*(uint8 *)(${v('th')} + 1);`,
    `  }`,
    `}`,
  ];
  return lines.map((l) => indent + l).join('\n');
}

/**
 * The words of an address as the tracer loads them: IPv4 as one 32-bit, IPv6 as two 64-bit little-endian loads of
 * network-order bytes (two loads instead of four keep the program inside BPF's 512-byte stack).
 */
export function addressWords(address: Uint8Array): bigint[] {
  const size = address.length === 4 ? 4 : 8;
  const words: bigint[] = [];
  for (let i = 0; i < address.length; i += size) {
    let w = 0n;
    for (let j = size - 1; j >= 0; j--) w = (w << 8n) | BigInt(address[i + j] ?? 0);
    words.push(w);
  }
  return words;
}

function hex(n: number | bigint): string {
  return `0x${n.toString(16)}`;
}

function maskBytes(length: number, prefixLength: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const bits = Math.max(0, Math.min(8, prefixLength - 8 * i));
    out[i] = (0xff << (8 - bits)) & 0xff;
  }
  return out;
}

function addressTest(p: string, side: 's' | 'd', family: 4 | 6, address: Uint8Array, prefixLength: number): string {
  const words = addressWords(address);
  const masks = addressWords(maskBytes(address.length, prefixLength));
  const full = address.length === 4 ? 0xffffffffn : 0xffffffffffffffffn;
  const tests = [`$${p}v == ${family}`];
  words.forEach((w, i) => {
    const m = masks[i]!;
    if (m === 0n) return;
    const variable = `$${p}${side}${i}`;
    tests.push(m === full ? `${variable} == ${hex(w)}` : `(${variable} & ${hex(m)}) == ${hex(w & m)}`);
  });
  return `(${tests.join(' && ')})`;
}

function directed(direction: string, test: (side: 's' | 'd') => string): string {
  if (direction === 'src') return test('s');
  if (direction === 'dst') return test('d');
  if (direction === 'src-and-dst') return `(${test('s')} && ${test('d')})`;
  return `(${test('s')} || ${test('d')})`;
}

/** The filter as a bpftrace condition over the header variables of prefix p. */
export function compileFilter(expr: FilterExpr | undefined, p = ''): string {
  if (expr === undefined) return `$${p}v != 0`;
  switch (expr.kind) {
    case 'and':
      return `(${compileFilter(expr.left, p)} && ${compileFilter(expr.right, p)})`;
    case 'or':
      return `(${compileFilter(expr.left, p)} || ${compileFilter(expr.right, p)})`;
    case 'not':
      // pcap: "not host X" still only matches IP packets when the filter is about IP at all.
      return `($${p}v != 0 && !${compileFilter(expr.operand, p)})`;
    case 'host':
      return directed(expr.direction, (side) => addressTest(p, side, expr.family, expr.address, expr.address.length * 8));
    case 'net':
      return directed(expr.direction, (side) => addressTest(p, side, expr.family, expr.address, expr.prefixLength));
    case 'port': {
      // A fragment after the first has no ports (the program leaves them 0): "port 0" must not match it (pcap's neither).
      const transport = `($${p}l4 == 6 || $${p}l4 == 17) && $${p}fo == 0`;
      return `(${transport} && ${directed(expr.direction, (side) => `$${p}${side === 's' ? 'sp' : 'dp'} == ${expr.port}`)})`;
    }
    case 'proto':
      return expr.family === undefined ? `($${p}v != 0 && $${p}l4 == ${expr.protocol})` : `($${p}v == ${expr.family} && $${p}l4 == ${expr.protocol})`;
    case 'family':
      return `$${p}v == ${expr.family}`;
    case 'len':
      return `($${p}v != 0 && $${p}len ${expr.operator} ${expr.value})`;
  }
}

function bpftraceString(s: string): string {
  if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(s)) throw new RangeError(`interface name "${s}" is not a valid Linux interface name`);
  return `"${s}"`;
}

/** Bytes of the packet from its IP header on that each event carries: enough for an ICMP error and its quote. */
export const HEADER_BYTES = 96;
const HEADER_WORDS = HEADER_BYTES / 8;

/** Fields after the event kind, shared by every skb-reading event; the order is trace-event.ts's. */
const EVENT_FORMAT = `%llu\\t%u\\t%llx\\t%u\\t%d\\t%s\\t%u\\t%u\\t%u\\t%u${'\\t%llx'.repeat(HEADER_WORDS)}`;
const EVENT_ARGS = `nsecs, cpu, $skb, $ns, $ifindex, $dev, $skblen, $how, $mark, $mtu, ${Array.from({ length: HEADER_WORDS }, (_, i) => `*(uint64 *)($nh + ${8 * i})`).join(', ')}`;

type SkbProbe = 'rx' | 'q' | 'drop' | 'icmp';

/**
 * Generates the program. Event lines: `E <kind> <fields>` (with the first HEADER_BYTES of the packet), `T` (transmitted),
 * `F` (freed), `B <nsecs>` once attached, and as bpftrace exits `@emitted: N`.
 */
export function tracerProgram(options: TracerProgramOptions, L: KernelLayout): string {
  const timeoutNs = (options.followTimeoutMs ?? DEFAULT_FOLLOW_TIMEOUT_MS) * 1_000_000;
  const icmpErrors = options.icmpErrors ?? true;
  const netnsTest = options.netns.length === 0 ? '' : options.netns.map((n) => `$ns == ${n}`).join(' || ');
  const start: string[] = [];
  if (options.ifname !== undefined) start.push(`$dev == ${bpftraceString(options.ifname)}`);
  if (options.mark !== undefined) start.push(`($mark & ${hex(options.mark.mask)}) == ${hex(options.mark.value & options.mark.mask)}`);
  start.push(compileFilter(options.filter));
  const followed = `($t != 0 && nsecs - $t < ${timeoutNs})`;

  const skbProbe = (probe: string, kind: SkbProbe): string => {
    const nh = kind === 'rx' ? `*(uint64 *)($skb + ${L.skbData})` : `*(uint64 *)($skb + ${L.skbHead}) + *(uint16 *)($skb + ${L.skbNetworkHeader})`;
    const extra =
      kind === 'drop'
        ? { format: '\\t%u\\t%s', args: ', args->reason, ksym(args->location)' }
        : kind === 'icmp'
          ? { format: '\\t%d\\t%d', args: ', args->type, args->code' }
          : { format: '', args: '' };
    // A packet that is neither followed nor matching costs only what the decision needs: the namespace when the trace
    // is restricted to some, the device name or mark when --ifname or --mark asks, the IP header. Everything else the
    // event prints is read after the early return: for an IPv4 TCP packet and a filter that matches nothing, 10 reads
    // of kernel memory instead of 18 (bench/trace measures what that is worth).
    const device = [`  $devp = *(uint64 *)($skb + ${L.skbDev});`];
    const namespace = [
      `  $ns = (uint64)*(uint32 *)(*(uint64 *)($devp + ${L.devNet}) + ${L.netInum});`,
      // Drops at the socket layer have no device; the socket knows the namespace.
      `  if ($ns == 0) { $ns = (uint64)*(uint32 *)(*(uint64 *)(*(uint64 *)($skb + ${L.skbSk}) + ${L.sockNet}) + ${L.netInum}); }`,
    ];
    const devName = [`  $dev = str($devp + ${L.devName}, 16);`];
    const mark = [`  $mark = (uint64)*(uint32 *)($skb + ${L.skbMark});`];
    const deviceEarly = netnsTest !== '' || options.ifname !== undefined;
    const early = [
      ...(deviceEarly ? device : []),
      ...(netnsTest === '' ? [] : [...namespace, `  if ($how == 0 && !(${netnsTest})) { return; }`]),
      ...(options.ifname === undefined ? [] : devName),
      ...(options.mark === undefined ? [] : mark),
    ];
    const late = [
      ...(deviceEarly ? [] : device),
      ...(netnsTest === '' ? namespace : []),
      ...(options.ifname === undefined ? devName : []),
      `  $ifindex = *(int32 *)($devp + ${L.devIfindex});`,
      `  $mtu = (uint64)*(uint32 *)($devp + ${L.devMtu});`,
      ...(options.mark === undefined ? mark : []),
      `  $skblen = (uint64)*(uint32 *)($skb + ${L.skbLen});`,
    ];
    const body = [
      `  $skb = (uint64)args->skbaddr;`,
      `  $t = @track[$skb];`,
      `  $how = (uint64)0;`,
      `  if ${followed} { $how = (uint64)1; }`,
      ...early,
      `  $nh = ${nh};`,
      headerCode('', '  '),
      `  if ($how == 0 && ${start.join(' && ')}) { $how = (uint64)2; }`,
      // A followed skb that matches the filter here too: user space tells a packet still on its way from a new one at
      // an address whose earlier packet ended where no tracepoint fires (TCP frees most skbs with __kfree_skb).
      `  if ($how == 1 && ${compileFilter(options.filter)}) { $how = (uint64)4; }`,
      ...(icmpErrors && (kind === 'rx' || kind === 'q')
        ? [
            // An ICMP error (v4 unreachable, time exceeded, parameter problem; v6 types 1-4) quoting a matching packet.
            `  if (($v == 4 && $l4 == 1 && ($sp == 3 || $sp == 11 || $sp == 12)) || ($v == 6 && $l4 == 58 && $sp >= 1 && $sp <= 4)) {`,
            `    $qnh = $th + 8;`,
            headerCode('q', '    '),
            `    if ($how == 0 && ${compileFilter(options.filter, 'q')}) { $how = (uint64)3; }`,
            ...(kind === 'q'
              ? [
                  // The error the kernel sends right after icmp_send() for a traced packet (same CPU, within 1 ms), even
                  // when what it quotes no longer matches the filter (an encapsulated packet).
                  `    $cause = @icmpcause[cpu];`,
                  `    if ($how == 0 && $cause != 0 && nsecs - $cause < 1000000) { $how = (uint64)3; }`,
                  `    if ($how == 3) { delete(@icmpcause[cpu]); }`,
                ]
              : []),
            `  }`,
          ]
        : []),
      `  if ($how == 0) { return; }`,
      ...late,
      kind === 'drop' ? `  delete(@track[$skb]);` : `  @track[$skb] = nsecs;`,
      ...(kind === 'icmp' ? [`  @icmpcause[cpu] = nsecs;`] : []),
      // Once END ran, bpftrace reads the buffers one last time and prints the count: an event after that would be counted
      // and never read, a loss that is none.
      `  if (@stopping == 1) { return; }`,
      `  printf("E\\t${kind}\\t${EVENT_FORMAT}${extra.format}\\n", ${EVENT_ARGS}${extra.args});`,
      `  @emitted = count();`,
    ];
    return `tracepoint:${probe}\n{\n${body.join('\n')}\n}`;
  };

  const xmit = [
    'tracepoint:net:net_dev_xmit',
    '{',
    // The skb may be freed by now: only its address is looked up, the rest comes from the tracepoint's own fields.
    '  $t = @track[(uint64)args->skbaddr];',
    `  if (!${followed}) { return; }`,
    '  if (@stopping == 1) { return; }',
    '  printf("T\\t%llu\\t%u\\t%llx\\t%s\\t%u\\t%d\\n", nsecs, cpu, args->skbaddr, str(args->name), args->len, args->rc);',
    '  @emitted = count();',
    '}',
  ].join('\n');

  const consume = [
    'tracepoint:skb:consume_skb',
    '{',
    '  $key = (uint64)args->skbaddr;',
    '  $t = @track[$key];',
    '  if ($t == 0) { return; }',
    '  delete(@track[$key]);',
    `  if (nsecs - $t >= ${timeoutNs}) { return; }`,
    `  $devp = *(uint64 *)($key + ${L.skbDev});`,
    `  $ns = (uint64)*(uint32 *)(*(uint64 *)($devp + ${L.devNet}) + ${L.netInum});`,
    '  if (@stopping == 1) { return; }',
    `  printf("F\\t%llu\\t%u\\t%llx\\t%u\\t%s\\t%s\\n", nsecs, cpu, $key, $ns, str($devp + ${L.devName}, 16), ksym(args->location));`,
    '  @emitted = count();',
    '}',
  ].join('\n');

  const timeline = (options.probes ?? 'timeline') === 'timeline';
  return [
    '// Generated by mtuscope trace (src/trace/tracer-program.ts).',
    // BEGIN runs in bpftrace itself: its pid is how the stop probe below knows it is asked to stop.
    'BEGIN { @self = pid; printf("B\\t%llu\\n", nsecs); }',
    ...(timeline ? [skbProbe('net:netif_receive_skb', 'rx'), skbProbe('net:net_dev_queue', 'q')] : []),
    skbProbe('skb:kfree_skb', 'drop'),
    skbProbe('icmp:icmp_send', 'icmp'),
    ...(timeline ? [xmit, consume] : []),
    // kill(bpftrace's pid, 0), a signal that is never delivered, asks it to stop. A real signal could interrupt a write
    // to a reader that is behind (bpftrace installs its handler without SA_RESTART), after which bpftrace writes nothing
    // more, its count included; exit() from a probe ends it in order.
    ...(options.stopProbe === false ? [] : ['tracepoint:syscalls:sys_enter_kill /args->pid == @self && args->sig == 0/ { exit(); }']),
    // @emitted is left for bpftrace to print as it exits, read straight from the map after the last events: printed
    // from END it would go through the perf buffer, and be lost with the events when that is full.
    'END { @stopping = 1; clear(@track); clear(@icmpcause); clear(@self); }',
    '',
  ].join('\n\n');
}
