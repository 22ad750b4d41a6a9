// Decoding speed against tshark, measured in the same run on the same file.
//
//   node dist/bench/decode.js [--packets N] [--runs R]
//
// Generates (once, kept in bench/out/) an Ethernet pcap of N mixed packets (default 1,000,000: TCP, UDP, fragments,
// ICMP errors with quotes, IPv6 with extension headers, VLAN, VXLAN, GRE, GUE), then times each command R times
// (default 2, best run counted) with /usr/bin/time for wall time and peak RSS:
//   mtuscope decode --json FILE > /dev/null       full decode, one JSON object per packet
//   mtuscope decode FILE > /dev/null              full decode, one text line per packet
//   tshark -r FILE -T fields -e frame.number      the reference
//   tcpdump -r FILE -w /dev/null                  the raw-read floor
// and prints packets/s, MB/s and ratios against tshark. Exits 1 if the target (mtuscope --json at least 5x faster than
// that tshark run) is missed or a command fails.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openCaptureWriter } from '../src/capture/writer.js';
import { LinkType } from '../src/packet/link-type.js';
import { sampleFrames } from '../test/support/sample-frames.js';
import { measure } from './measure.js';

const TARGET_RATIO = 5;
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');

const { values } = parseArgs({ options: { packets: { type: 'string', default: '1000000' }, runs: { type: 'string', default: '2' } } });
const packets = Number(values.packets);
const runs = Number(values.runs);
if (!Number.isInteger(packets) || packets < 1) throw new Error(`--packets: "${values.packets}" is not a positive whole number`);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs: "${values.runs}" is not a positive whole number`);

async function generate(path: string): Promise<void> {
  const frames = sampleFrames().filter((s) => s.linkType === LinkType.Ethernet);
  const w = openCaptureWriter(path, { format: 'pcap', linkType: LinkType.Ethernet, nanoseconds: true });
  let t = 1_700_000_000_000_000_000n;
  for (let i = 0; i < packets; i++) {
    t += 1000n;
    await w.write({ timestampNs: t, data: frames[i % frames.length]!.data });
  }
  await w.close();
}

const outDir = join(root, 'bench', 'out');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `decode-${packets}.pcap`);
if (!existsSync(file)) {
  process.stdout.write(`generating ${file} ...\n`);
  await generate(file);
}
const bytes = statSync(file).size;
// The timed runs discard their output, so first check once that every packet decodes and none is malformed.
const check = spawnSync('bash', ['-c', 'set -o pipefail; node "$1" decode "$2" | awk \'/!malformed/ { m++ } END { print NR, m + 0 }\'', 'sh', cli, file], {
  encoding: 'utf8',
});
const [lines, malformed] = check.stdout.trim().split(' ').map(Number);
if (check.status !== 0 || lines !== packets || malformed !== 0) {
  throw new Error(`mtuscope decode printed ${lines} lines (${malformed} malformed) for ${packets} packets: ${check.stderr}`);
}

const results = [
  measure('mtuscope decode --json', ['node', cli, 'decode', '--json', file], runs),
  measure('mtuscope decode (text)', ['node', cli, 'decode', file], runs),
  measure('tshark -T fields -e frame.number', ['tshark', '-r', file, '-n', '-T', 'fields', '-e', 'frame.number'], runs),
  measure('tcpdump -r -w /dev/null', ['tcpdump', '-r', file, '-w', '/dev/null'], runs),
];
const tshark = results[2]!;

process.stdout.write(`\n${packets} packets, ${(bytes / 1e6).toFixed(1)} MB (${file}); best of ${runs} runs\n\n`);
process.stdout.write(`${'command'.padEnd(36)}${'seconds'.padStart(9)}${'packets/s'.padStart(12)}${'MB/s'.padStart(9)}${'peak RSS'.padStart(11)}${'vs tshark'.padStart(11)}\n`);
for (const r of results) {
  const pps = packets / r.seconds;
  const mbs = bytes / 1e6 / r.seconds;
  const ratio = tshark.seconds / r.seconds;
  process.stdout.write(
    `${r.name.padEnd(36)}${r.seconds.toFixed(2).padStart(9)}${Math.round(pps).toLocaleString('en-US').padStart(12)}${mbs.toFixed(1).padStart(9)}${`${r.peakRssMiB.toFixed(0)} MiB`.padStart(11)}${`${ratio.toFixed(2)}x`.padStart(11)}\n`,
  );
}
const ratio = tshark.seconds / results[0]!.seconds;
const met = ratio >= TARGET_RATIO;
process.stdout.write(`\ntarget: mtuscope decode --json at least ${TARGET_RATIO}x faster than tshark: ${met ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x)\n`);
process.exitCode = met ? 0 : 1;
