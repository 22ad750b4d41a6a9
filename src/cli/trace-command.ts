import { forgetOnExit } from '../host/exit-teardown.js';
import { findLabs } from '../lab/registry.js';
import { labIdOf, LAB_PREFIX } from '../lab/namespaces.js';
import { Tracer, TracerUnavailable } from '../trace/bpftrace-tracer.js';
import { isBenignDrop } from '../trace/drop-meaning.js';
import { namespaceInode, namespacesByInode } from '../trace/netns-names.js';
import { dropReasonNames } from '../trace/tracefs.js';
import { formatFilterError, parseTraceFilter, type FilterExpr } from '../trace/trace-filter.js';
import { rowJson, rowText, summaryJson, summaryText, TEXT_HEADER } from '../trace/trace-output.js';
import { TraceSession } from '../trace/trace-session.js';
import { CommandFailure, defineCommand, EXIT_FAILURE, EXIT_OK, UsageError } from './command.js';
import { integer, numberOptionValue, seconds } from './number-options.js';
import { LineOutput } from './line-output.js';
import { Progress } from './progress.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

const OPTIONS = {
  netns: { type: 'string', value: 'NAME', multiple: true, description: 'start tracing packets only in this named network namespace (repeatable)' },
  lab: { type: 'string', value: 'LAB', description: 'start tracing packets only in the namespaces of this running lab (name or id)' },
  node: { type: 'string', value: 'NODE', multiple: true, description: 'with --lab: only these nodes of it (repeatable)' },
  ifname: { type: 'string', value: 'NAME', description: 'start tracing packets only when seen on an interface of this name' },
  mark: { type: 'string', value: 'VALUE[/MASK]', description: 'start tracing packets only with this firewall mark (decimal or 0x hex)' },
  'no-icmp-errors': { type: 'boolean', description: 'do not trace the ICMP errors that quote a matching packet' },
  json: { type: 'boolean', description: 'one JSON object per event, then a summary object (schema: docs/trace.md)' },
  duration: seconds({ group: 'Ending', description: 'stop after this long (0: until Ctrl-C or --count)', min: 0, max: 86_400 }, 0),
  count: integer({ group: 'Ending', description: 'stop once this many traced packets have met their fate (0: no limit)', min: 0, max: 10_000_000 }, 0),
  'buffer-pages': integer({ group: 'Bounds', description: 'perf buffer pages (4 KiB) per CPU; events beyond it are lost, and counted', min: 8, max: 65_536 }, 1024),
} as const;

function markFrom(text: string | undefined): { value: number; mask: number } | undefined {
  if (text === undefined) return undefined;
  const m = /^(0x[0-9a-f]+|\d+)(?:\/(0x[0-9a-f]+|\d+))?$/i.exec(text.trim());
  const value = m ? Number(m[1]) : NaN;
  const mask = m?.[2] === undefined ? 0xffffffff : Number(m[2]);
  if (!m || value > 0xffffffff || mask > 0xffffffff) throw new UsageError(`--mark: "${text}" is not VALUE or VALUE/MASK (32-bit, decimal or 0x hex)`);
  return { value, mask };
}

function ifnameFrom(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(text)) throw new UsageError(`--ifname: "${text}" is not an interface name (1-15 letters, digits, _ . : @ -)`);
  return text;
}

interface NamespaceChoice {
  readonly inodes: number[];
  readonly names: string[];
}

function namespacesFrom(netns: readonly string[], lab: string | undefined, nodes: readonly string[]): NamespaceChoice {
  const inodes: number[] = [];
  const names: string[] = [];
  for (const name of netns) {
    const inode = namespaceInode(name);
    if (inode === undefined) throw new UsageError(`--netns: there is no network namespace "${name}" (ip netns list shows them)`);
    inodes.push(inode);
    names.push(name);
  }
  if (nodes.length > 0 && lab === undefined) throw new UsageError('--node names a node of a lab: give --lab too');
  if (lab !== undefined) {
    const records = findLabs(lab);
    if (records.length === 0) throw new UsageError(`--lab: no running lab is called "${lab}" (mtuscope lab list shows them)`);
    if (records.length > 1) throw new UsageError(`--lab: ${records.length} labs are called "${lab}": give its id (${records.map((r) => r.id).join(', ')})`);
    const record = records[0]!;
    const known = record.plan.nodes.map((n) => n.name);
    for (const node of nodes) {
      if (!known.includes(node)) throw new UsageError(`--node: lab ${record.name} has no node "${node}" (its nodes: ${known.join(', ')})`);
    }
    for (const node of nodes.length > 0 ? nodes : known) {
      const name = `${LAB_PREFIX}${record.id}-${node}`;
      const inode = namespaceInode(name);
      if (inode === undefined) throw new CommandFailure(`lab ${record.name}: the namespace of node ${node} (${name}) is gone`);
      inodes.push(inode);
      names.push(name);
    }
  }
  return { inodes, names };
}

/** Lab namespaces shown as LAB/NODE, others by name, unnamed ones by inode. */
function namespaceLabeller(): (inode: number) => string {
  const byInode = namespacesByInode();
  const labs = new Map<string, string>();
  const cache = new Map<number, string>();
  return (inode) => {
    const cached = cache.get(inode);
    if (cached !== undefined) return cached;
    let label = byInode.get(inode);
    if (label === undefined) {
      // Created after the start: look again once.
      const fresh = namespacesByInode();
      for (const [k, v] of fresh) byInode.set(k, v);
      label = byInode.get(inode);
    }
    const id = label === undefined ? undefined : labIdOf(label);
    if (label !== undefined && id !== undefined) {
      if (!labs.has(id)) labs.set(id, findLabs(id)[0]?.name ?? id);
      label = `${labs.get(id)!}/${label.slice(`${LAB_PREFIX}${id}-`.length)}`;
    }
    const out = label ?? `netns:${inode}`;
    cache.set(inode, out);
    return out;
  };
}

function write(stream: NodeJS.WritableStream, text: string): void {
  stream.write(text);
}

export const traceCommand = defineCommand({
  name: 'trace',
  summary: 'show where in the kernel packets died, and why (tracepoints, bpftrace; root)',
  usage: '[FILTER]',
  description:
    'Traces packets through the kernel with a generated bpftrace program on tracepoints (received, queued, transmitted, ' +
    'ICMP error sent, freed, dropped with the kernel\'s reason and the function): one line per event with time, CPU, ' +
    'packet, network namespace (a lab node as LAB/NODE), device, length, event and tuple. A packet is traced from where ' +
    'it first matches the FILTER (and --netns/--lab, --ifname, --mark) and then followed by its skb address across ' +
    'encapsulation and NAT, which the filter no longer matches; ICMP errors that quote a matching packet are traced too. ' +
    'FILTER takes the common pcap-filter terms: host, src/dst host, net, port, proto tcp/udp/icmp/icmp6, tcp, udp, ' +
    'icmp, icmp6, ip, ip6, len OP N, greater, less, with and/or/not and parentheses; len is the IP packet\'s length. ' +
    'Ctrl-C, --duration or --count end it with a summary: where packets died, grouped by place and reason, with the ' +
    'path-MTU meaning of each.',
  options: OPTIONS,
  positionals: { min: 0, max: 1000 },
  notes:
    'Exit status: 0 no traced packet was dropped, 1 some were (or the tracer failed), 2 a usage error. Events the perf ' +
    'buffer lost are counted and reported. Needs root, bpftrace (apt-get install bpftrace) and the net, skb and icmp ' +
    'tracepoints; nothing stays attached after it ends (see docs/trace.md).',
  async run({ values, positionals }) {
    const filterText = positionals.join(' ');
    const parsed = parseTraceFilter(filterText);
    if (!parsed.ok) throw new UsageError(formatFilterError(filterText, parsed.error));
    const filter: FilterExpr | undefined = parsed.expr;
    const durationMs = numberOptionValue('--duration', OPTIONS.duration, values.duration);
    const count = numberOptionValue('--count', OPTIONS.count, values.count);
    const bufferPages = numberOptionValue('--buffer-pages', OPTIONS['buffer-pages'], values['buffer-pages']);
    const mark = markFrom(values.mark);
    const ifname = ifnameFrom(values.ifname);
    const namespaces = namespacesFrom(values.netns, values.lab, values.node);

    // Read once the tracer holds tracefs: on a fresh machine it is not mounted until then, and the names would be numbers.
    let reasons: Map<number, string> | undefined;
    const reasonName = (n: number): string => (reasons ??= dropReasonNames()).get(n) ?? String(n);
    const label = namespaceLabeller();
    const session = new TraceSession({ reasonName, namespaceLabel: label });
    const progress = new Progress();
    const output = new LineOutput(process.stdout);
    const json = values.json;
    let wallAtAttach = Date.now();
    let attachedNs = 0n;
    let finished = 0;
    let resolveEnd: (why: string) => void = () => undefined;
    const endRequested = new Promise<string>((resolve) => {
      resolveEnd = resolve;
    });
    let drops = 0;
    let packets = 0;

    let tracer: Tracer;
    let attachMs: number;
    try {
      ({ tracer, attachMs } = await Tracer.start({
        filter,
        netns: namespaces.inodes,
        ...(ifname === undefined ? {} : { ifname }),
        ...(mark === undefined ? {} : { mark }),
        icmpErrors: !values['no-icmp-errors'],
        bufferPages,
        onEvent: (event) => {
          const row = session.observe(event);
          if (row === undefined) return;
          const secondsSince = Number(event.timeNs - attachedNs) / 1e9;
          progress.done();
          if (json) {
            void output.write(`${JSON.stringify(rowJson(row, secondsSince, wallAtAttach + secondsSince * 1000, reasonName, event.netns))}\n`);
          } else void output.write(`${rowText(row, secondsSince, reasonName)}\n`);
          if (output.closed) resolveEnd('the reader of the output going away');
          if (event.kind === 'dropped') drops++;
          if (event.kind === 'dropped' || event.kind === 'freed') {
            finished++;
            if (count > 0 && finished >= count) resolveEnd(`--count ${count}`);
          }
          if (row.packet > packets) packets = row.packet;
          progress.update(`mtuscope trace: ${packets} packets, ${drops} dropped; Ctrl-C ends it with the summary`);
        },
        onMessage: (text) => write(process.stderr, `mtuscope trace: bpftrace: ${text}\n`),
      }));
    } catch (err) {
      if (err instanceof TracerUnavailable) throw new CommandFailure(err.message);
      throw err;
    }
    attachedNs = tracer.attachedAtNs;
    wallAtAttach = Date.now();
    const where = namespaces.names.length === 0 ? 'every network namespace' : namespaces.names.join(', ');
    write(process.stderr, `mtuscope trace: attached in ${(attachMs / 1000).toFixed(2)} s (bpftrace pid ${tracer.pid ?? '?'}), tracing ${filterText === '' ? 'all IP packets' : `"${filterText}"`} in ${where}; Ctrl-C ends it with the summary\n`);
    if (!json) void output.write(`${TEXT_HEADER}\n`);
    // Lines are written in batches (line by line on a terminal); a pipe still sees them within a fifth of a second.
    const flusher = setInterval(() => void output.flush(), 200);

    // Signals end the trace in order (bpftrace's END block reports its count) instead of the generic teardown, which
    // would kill bpftrace at once; the exit handler still ends it if anything goes wrong before stop().
    forgetOnExit(tracer);
    const onExit = (): void => tracer.destroySync();
    process.on('exit', onExit);
    const onSignal = (signal: NodeJS.Signals): void => resolveEnd(signal === 'SIGINT' ? 'Ctrl-C' : signal);
    for (const signal of SIGNALS) process.on(signal, onSignal);
    const timer = durationMs > 0 ? setTimeout(() => resolveEnd(`--duration ${durationMs / 1000} s`), durationMs) : undefined;
    const bpftraceEnded = tracer.exited.then((x) => `bpftrace ending by itself (${x.signal ?? `exit ${String(x.code)}`}${tracer.stderr() === '' ? '' : `: ${tracer.stderr()}`})`);
    let endedBy: string;
    try {
      endedBy = await Promise.race([endRequested, bpftraceEnded]);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
    const end = await tracer.stop();
    clearInterval(flusher);
    for (const signal of SIGNALS) process.off(signal, onSignal);
    process.off('exit', onExit);
    progress.done();
    const summary = session.summary();
    const totals = { seconds: (Date.now() - wallAtAttach) / 1000, lost: end.emitted === undefined ? undefined : end.lost, endedBy };
    if (json) void output.write(`${JSON.stringify({ ...summaryJson(summary, totals), attachMs: Math.round(attachMs), detachMs: Math.round(end.detachMs) })}\n`);
    else void output.write(`\n${summaryText(summary, totals)}\n`);
    await output.flush();
    write(process.stderr, `mtuscope trace: detached in ${(end.detachMs / 1000).toFixed(2)} s\n`);
    const problems = summary.deaths.filter((d) => !isBenignDrop(d.reason, d.function));
    return problems.length > 0 || end.emitted === undefined ? EXIT_FAILURE : EXIT_OK;
  },
});
