import { setFlagsFromString } from 'node:v8';
import type { AnalyzerParts } from '../analyze/analyzer.js';
import { defaultParts } from '../analyze/default-parts.js';
import { type AnalyzerLimits, DEFAULT_LIMITS } from '../analyze/detector.js';
import type { FindingKind } from '../analyze/finding.js';
import { FINDING_KINDS, isFindingKind } from '../analyze/finding-kinds.js';
import { GUE_PORT } from '../packet/gue.js';
import { LARGEST_COMMON_MTU } from '../packet/super-packet.js';
import { VXLAN_PORT } from '../packet/vxlan.js';
import { type AnalyzeInput, runAnalyze } from './analyze-run.js';
import { defineCommand, UsageError } from './command.js';
import { decodeOptionsFrom } from './decode-command.js';
import { integer, numberOptionValue, seconds } from './number-options.js';
import { Progress } from './progress.js';

const OPTIONS = {
  json: { type: 'boolean', description: 'one JSON object per finding, then a summary object per capture (schema: docs/analyze.md)' },
  extract: { type: 'string', value: 'OUT.pcapng', description: 'write the evidence frames of every finding, in frame order, each with a comment naming its findings, to OUT.pcapng' },
  live: { type: 'string', value: 'IFACE', description: 'capture on IFACE with tcpdump and report findings as they appear; Ctrl-C ends it with the summary' },
  filter: { type: 'string', value: 'KIND,...', description: 'report only these finding kinds (the exit status follows them alone)' },
  'vxlan-port': { type: 'string', value: 'PORT,...', default: String(VXLAN_PORT), group: 'Decoding', description: 'UDP ports decoded as VXLAN' },
  'gue-port': { type: 'string', value: 'PORT,...', default: String(GUE_PORT), group: 'Decoding', description: 'UDP ports decoded as GUE' },
  fou: { type: 'string', value: 'PORT:PROTO,...', group: 'Decoding', description: 'UDP ports decoded as Foo-over-UDP carrying IP protocol PROTO (4 or 41)' },
  'link-mtu': {
    type: 'string',
    value: 'N',
    group: 'Decoding',
    defaultText: `unknown: only IP packets above ${LARGEST_COMMON_MTU} bytes, the largest common MTU, count; never on loopback`,
    description: 'the largest MTU of the captured links: longer IP packets are GSO/GRO super-packets, not what crossed the wire',
  },
  'max-flows': integer({ group: 'Bounds', description: 'flows each table tracks at once; beyond it the least recently seen is forgotten and counted', min: 1, max: 10_000_000 }, DEFAULT_LIMITS.maxFlows),
  'fragment-memory': integer(
    { group: 'Bounds', value: 'BYTES', description: 'bytes of fragments held for reassembly; beyond it the oldest datagrams are forgotten and counted', min: 65_536, max: 4 * 1024 * 1024 * 1024 },
    DEFAULT_LIMITS.fragmentMemory,
  ),
  'max-findings': integer({ group: 'Bounds', description: 'findings kept per kind; the rest are counted', min: 1, max: 1_000_000 }, DEFAULT_LIMITS.maxFindingsPerKind),
  'report-interval': seconds({ group: 'Bounds', description: '--live: how often findings that appeared are printed', min: 0.1, max: 60 }, 1500),
} as const;

function kindsFrom(text: string | undefined): ReadonlySet<FindingKind> | undefined {
  if (text === undefined) return undefined;
  const out = new Set<FindingKind>();
  for (const part of text.split(',').map((p) => p.trim())) {
    if (!isFindingKind(part)) throw new UsageError(`--filter: "${part}" is not a finding kind (${FINDING_KINDS.join(', ')})`);
    out.add(part);
  }
  return out;
}

function wholeNumber(option: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new UsageError(`${option}: "${text}" is not a whole number from ${min} to ${max}`);
  return n;
}

function inputsFrom(files: readonly string[], live: string | undefined): AnalyzeInput[] {
  if (live !== undefined) {
    if (files.length > 0) throw new UsageError(`--live captures on an interface: give no FILE (got ${files.map((f) => JSON.stringify(f)).join(' ')})`);
    if (live === '' || live.startsWith('-')) throw new UsageError(`--live: "${live}" is not an interface name`);
    return [{ kind: 'live', iface: live }];
  }
  if (files.length === 0) throw new UsageError('expected FILE... (a pcap or pcapng file, "-" for standard input) or --live IFACE, got nothing');
  if (files.filter((f) => f === '-').length > 1) throw new UsageError('standard input ("-") can be read only once');
  return files.map((f): AnalyzeInput => (f === '-' ? { kind: 'stdin' } : { kind: 'file', path: f }));
}

/** The command with the detectors `makeParts` builds (tests give their own; the product runs defaultParts). */
export function analyzeCommandWith(makeParts: (limits: AnalyzerLimits) => AnalyzerParts) {
  return defineCommand({
    name: 'analyze',
    summary: 'name path-MTU, Packet Too Big and fragmentation failures in pcap/pcapng captures (or live)',
    usage: 'FILE... | --live IFACE',
    description:
      'Reads each pcap or pcapng FILE ("-" for standard input) on its own, tracks its flows and fragments, and reports ' +
      'findings: Packet Too Big honoured, ignored, suspicious or delivered to the wrong server, path-MTU black holes, MSS ' +
      'clamping, incomplete or overlapping fragments, encapsulation overhead, and capture caveats (offloads, snaplen, ' +
      'loss) that lower confidence. Each finding has a severity, a confidence, its flow and capture interface, the frames ' +
      'of its evidence (numbered as Wireshark numbers them), a sentence saying what it means and a Wireshark display ' +
      'filter. The text output gives per capture a header, one verdict per flow with a timeline of its evidence, every ' +
      'finding, and what the bounded tables had to forget. Memory is bounded by the Bounds options.',
    options: OPTIONS,
    positionals: { min: 0, max: Number.MAX_SAFE_INTEGER },
    notes:
      'Exit status: 0 nothing found (or only info findings), 1 a finding of severity error or warning, 2 a usage error or ' +
      'an input that could not be read (the message names the byte offset of the damage; the packets before it are ' +
      'analysed and reported). Output, JSON schema and every finding kind: docs/analyze.md.',
    run: async ({ values, positionals }) => {
      // Tables that evict all the time (a capture of millions of flows) turn every entry into old-generation garbage,
      // and V8 lets the old generation grow to several times what is live before it collects (600 MB peak for under
      // 100 MB live). A growth factor of 1.15 keeps the peak near what the tables hold (bench/analyze measures it);
      // the flag is read at each collection, so setting it now takes effect.
      setFlagsFromString('--heap-growing-percent=15');
      const inputs = inputsFrom(positionals, values.live);
      const linkMtu = wholeNumber('--link-mtu', values['link-mtu'], 68, 65536);
      const limits: AnalyzerLimits = {
        maxFlows: numberOptionValue('max-flows', OPTIONS['max-flows'], values['max-flows']),
        fragmentMemory: numberOptionValue('fragment-memory', OPTIONS['fragment-memory'], values['fragment-memory']),
        maxFindingsPerKind: numberOptionValue('max-findings', OPTIONS['max-findings'], values['max-findings']),
      };
      if (values.extract === '') throw new UsageError('--extract: the file name is empty');
      return runAnalyze(
        inputs,
        {
          json: values.json,
          extract: values.extract,
          kinds: kindsFrom(values.filter),
          facts: { ...decodeOptionsFrom(values), ...(linkMtu === undefined ? {} : { linkMtu }) },
          limits,
          makeParts,
          liveReportMs: numberOptionValue('report-interval', OPTIONS['report-interval'], values['report-interval']),
        },
        { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, progress: new Progress() },
      );
    },
  });
}

export const analyzeCommand = analyzeCommandWith(defaultParts);
