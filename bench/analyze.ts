// Analyzer speed and memory against tshark's expert analysis, measured in the same run on the same file.
//
//   node dist/bench/analyze.js [--packets N] [--runs R] [--gib G] [--limit-mib M] [--target X]
//
// Input: mixed lab traffic. Once (root; kept in bench/out/analyze-seed.pcap) real kernels in lab namespaces are
// captured with tcpdump (bench/analyze-seed.ts: TCP in both families through a router with a smaller link and PMTU
// discovery, DF pings and ICMP errors, fragmented pings and UDP, VXLAN, an encapsulating load balancer that black-holes
// an upload). Then (kept in bench/out/) a pcap of N packets (default 1,000,000) repeats the seed, each repetition with
// its own ephemeral ports, TCP sequence numbers and IP identifications, checksums kept valid (bench/analyze-input.ts).
//
// Timed with /usr/bin/time (wall time and peak RSS, best of R runs each, default 1, the two programs alternately):
//   node dist/src/cli/main.js analyze FILE --json > /dev/null    (exit status 1: it found problems, as it should)
//   tshark -r FILE -q -z expert                                   tshark's expert information (TCP analysis, fragments)
// then our peak RSS on a capture of G GiB (default 4) built the same way, and on a capture of F packets (default
// 2,000,000) each of which starts a new flow (TCP SYNs and UDP datagrams, bench/analyze-flows.ts) with the default
// limits, printing the evictions its JSON summary reports; both in a scratch directory, removed afterwards.
// Exits 1 when ours is less than X (default 5) times tshark's speed, or its peak RSS on either large capture exceeds
// M MiB (default 200).
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Eviction } from '../src/analyze/detector.js';
import type { CapturedPacket } from '../src/capture/captured-packet.js';
import { readCaptureFile } from '../src/capture/reader.js';
import { openCaptureWriter } from '../src/capture/writer.js';
import { LinkType } from '../src/packet/link-type.js';
import { writeUniqueFlows } from './analyze-flows.js';
import { variedFrame } from './analyze-input.js';
import { formatAnalyzeBench, MEMORY_LIMIT_MIB, TARGET_SPEED_RATIO, verdict } from './analyze-report.js';
import { makeAnalyzeSeed, seedPath } from './analyze-seed.js';
import { fastest, type Measured, measure } from './measure.js';
import { withScratchDir } from './remove-on-signal.js';
import { runBench } from './run-bench.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const outDir = join(root, 'bench', 'out');

function positive(name: string, text: string | undefined, integer: boolean): number {
  const n = Number(text);
  if (!(n > 0) || (integer && !Number.isInteger(n))) throw new Error(`--${name}: "${text}" is not a positive ${integer ? 'whole ' : ''}number`);
  return n;
}

/** The seed's span in capture time plus 1 ms: how far apart repetitions start. */
function span(seed: readonly CapturedPacket[]): bigint {
  return seed[seed.length - 1]!.timestampNs - seed[0]!.timestampNs + 1_000_000n;
}

/** Writes repetitions of the seed to `path` until `enough(packets, bytes)`; returns what was written. */
async function repeatSeed(seed: readonly CapturedPacket[], path: string, enough: (packets: number, bytes: number) => boolean): Promise<{ packets: number; bytes: number }> {
  const w = openCaptureWriter(path, { format: 'pcap', linkType: LinkType.Ethernet, nanoseconds: true });
  const step = span(seed);
  let packets = 0;
  let bytes = 24;
  for (let n = 0; !enough(packets, bytes); n++) {
    const shift = step * BigInt(n);
    for (const p of seed) {
      if (enough(packets, bytes)) break;
      await w.write({ timestampNs: p.timestampNs + shift, data: variedFrame(LinkType.Ethernet, p.data, n), originalLength: p.originalLength });
      packets++;
      bytes += 16 + p.data.length;
    }
  }
  await w.close();
  return { packets, bytes: statSync(path).size };
}

const OUR_COMMAND = 'node dist/src/cli/main.js analyze FILE --json';

function ourArgv(file: string): string[] {
  return ['node', cli, 'analyze', file, '--json'];
}

/** `mtuscope analyze FILE --json` exits 1 when it reports a problem: that is success here. */
function measureOurs(name: string, file: string, stdoutFile?: string): Measured {
  return measure(name, ourArgv(file), 1, { okStatuses: [0, 1], ...(stdoutFile === undefined ? {} : { stdoutFile }) });
}

/** The evictions the JSON summary (the last line of `analyze --json`) reports. */
function summaryEvictions(jsonLines: string): Eviction[] {
  const last = jsonLines.trimEnd().split('\n').pop() ?? '';
  const summary = JSON.parse(last) as { type?: string; evictions?: Eviction[] };
  if (summary.type !== 'summary' || !Array.isArray(summary.evictions)) throw new Error(`no summary line in the output: ${last.slice(0, 200)}`);
  return summary.evictions;
}

runBench('analyze', async () => {
  const { values } = parseArgs({
    options: {
      packets: { type: 'string', default: '1000000' },
      runs: { type: 'string', default: '1' },
      gib: { type: 'string', default: '4' },
      'limit-mib': { type: 'string', default: String(MEMORY_LIMIT_MIB) },
      flows: { type: 'string', default: '2000000' },
      target: { type: 'string', default: String(TARGET_SPEED_RATIO) },
    },
  });
  const packets = positive('packets', values.packets, true);
  const runs = positive('runs', values.runs, true);
  const gib = positive('gib', values.gib, false);
  const limit = positive('limit-mib', values['limit-mib'], false);
  const target = positive('target', values.target, false);
  const flowPackets = positive('flows', values.flows, true);

  mkdirSync(outDir, { recursive: true });
  const seedFile = seedPath(outDir);
  if (!existsSync(seedFile)) {
    if (process.getuid?.() !== 0) throw new Error(`${seedFile} is missing and making it needs root (lab namespaces)`);
    process.stdout.write(`capturing lab traffic into ${seedFile} ...\n`);
    const s = await withScratchDir('mtuscope-analyze-seed-', (dir) => makeAnalyzeSeed(dir, seedFile));
    process.stdout.write(`seed: ${s.packets} packets (${s.captures.map((c) => `${c.name} ${c.packets}`).join(', ')})\n`);
  }
  const seed = await readCaptureFile(seedFile);
  const file = join(outDir, `analyze-mixed-${packets}.pcap`);
  if (!existsSync(file)) {
    process.stdout.write(`generating ${file} ...\n`);
    await repeatSeed(seed, file, (n) => n >= packets);
  }
  const bytes = statSync(file).size;
  // Alternately, one run of each at a time: this VM's speed drifts by a third within minutes, and R runs of one program
  // followed by R of the other would put the drift into the ratio.
  let oursMeasured: Measured | undefined;
  let tshark: Measured | undefined;
  for (let r = 0; r < runs; r++) {
    oursMeasured = fastest(oursMeasured, measureOurs('mtuscope analyze', file));
    tshark = fastest(tshark, measure('tshark -q -z expert', ['tshark', '-r', file, '-q', '-z', 'expert']));
  }

  const large = await withScratchDir('mtuscope-analyze-large-', async (dir) => {
    const path = join(dir, `analyze-${gib}gib.pcap`);
    process.stdout.write(`generating ${path} ...\n`);
    const written = await repeatSeed(seed, path, (_, b) => b >= gib * 2 ** 30);
    return { ...written, ours: measureOurs('mtuscope analyze (large)', path) };
  });
  const flows = await withScratchDir('mtuscope-analyze-flows-', async (dir) => {
    const path = join(dir, `analyze-flows-${flowPackets}.pcap`);
    process.stdout.write(`generating ${path} ...\n`);
    await writeUniqueFlows(path, flowPackets);
    const out = join(dir, 'summary.json');
    const ours = measureOurs('mtuscope analyze (unique flows)', path, out);
    return { packets: flowPackets, bytes: statSync(path).size, ours, evictions: summaryEvictions(readFileSync(out, 'utf8')) };
  });

  const run = { file, packets, bytes, ourCommand: OUR_COMMAND, ours: oursMeasured!, tshark: tshark!, large, flows, speedTarget: target, memoryLimitMiB: limit };
  process.stdout.write(`\nseed ${seed.length} packets (${seedFile}); best of ${runs} run${runs === 1 ? '' : 's'}\n`);
  process.stdout.write(formatAnalyzeBench(run));
  const v = verdict(run);
  return v.speedMet && v.memoryMet ? 0 : 1;
});
