// Decoding speed against tshark, measured in the same run on the same file.
//
//   node dist/bench/decode.js [--packets N] [--runs R]
//
// Generates (once, kept in bench/out/) an Ethernet pcap of N mixed packets (default 1,000,000: TCP, UDP, fragments,
// ICMP errors with quotes, IPv6 with extension headers, VLAN, VXLAN, GRE, GUE). The sample frames are varied packet
// by packet — TCP/UDP source ports, TCP sequence and acknowledgement numbers, IPv4 identifications — with their
// checksums kept valid, so that no tool can profit from one connection repeated a million times. Then it times each
// command R times (default 2, best run counted) with /usr/bin/time for wall time and peak RSS:
//   mtuscope decode --json FILE > /dev/null        full decode, one JSON object per packet, on as many threads as
//                                                  there are cores (the default for a file this size)
//   mtuscope decode --json --threads 1 FILE        the same on one thread
//   mtuscope decode FILE > /dev/null               full decode, one text line per packet
//   tshark -r FILE -T fields -e frame.number       tshark as it runs by default: it also tracks TCP sequence
//                                                  numbers and reassembles TCP streams and IP fragments
//   tshark ... -o <analysis and reassembly off>    tshark doing comparable work: a full dissection of every packet,
//                                                  no work across packets (mtuscope decode does none) — the reference
//   tcpdump -r FILE -w /dev/null                   the raw-read floor
// and prints packets/s, MB/s, CPU seconds (all threads) and ratios against both tshark runs. Exits 1 if the target
// (mtuscope --json at least 5x faster than tshark doing comparable work, in wall-clock time) is missed or a command
// fails. tshark dissects on one thread; the CPU column shows what the second core adds.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openCaptureWriter } from '../src/capture/writer.js';
import { put16, u16 } from '../src/packet/bytes.js';
import { foldSum } from '../src/packet/checksum.js';
import { decodeFrame } from '../src/packet/frame.js';
import { LinkType } from '../src/packet/link-type.js';
import { sampleFrames } from '../test/support/sample-frames.js';
import { measure } from './measure.js';

const TARGET_RATIO = 5;
/** tshark without the work across packets that mtuscope decode does not do. */
const TSHARK_COMPARABLE = ['-o', 'tcp.analyze_sequence_numbers:FALSE', '-o', 'tcp.desegment_tcp_streams:FALSE', '-o', 'ip.defragment:FALSE', '-o', 'ipv6.defragment:FALSE'];
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');

const { values } = parseArgs({ options: { packets: { type: 'string', default: '1000000' }, runs: { type: 'string', default: '2' } } });
const packets = Number(values.packets);
const runs = Number(values.runs);
if (!Number.isInteger(packets) || packets < 1) throw new Error(`--packets: "${values.packets}" is not a positive whole number`);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs: "${values.runs}" is not a positive whole number`);

/** Replaces the 16-bit word at `at` and updates the checksum at `checksumAt` to match (RFC 1624, eqn. 3). */
function replaceWord(b: Uint8Array, at: number, value: number, checksumAt: number, udp = false): void {
  const old = u16(b, at);
  put16(b, at, value);
  const checksum = u16(b, checksumAt);
  if (udp && checksum === 0) return; // a UDP datagram sent without a checksum stays without one
  const updated = ~foldSum((~checksum & 0xffff) + (~old & 0xffff) + value) & 0xffff;
  // UDP writes a computed 0 as 0xffff: 0 means "no checksum" there.
  put16(b, checksumAt, udp && updated === 0 ? 0xffff : updated);
}

/** A copy of `frame` whose outermost IPv4 identification, ports and TCP sequence numbers are varied by `n` (inner
 * layers are left alone: changing them would also need the checksums of the tunnels around them updated). */
function varied(frame: Uint8Array, n: number): Uint8Array {
  const b = Uint8Array.from(frame);
  for (const layer of decodeFrame(LinkType.Ethernet, frame, frame.length).layers) {
    if (layer.quoted || layer.depth > 0) continue;
    const at = layer.offset;
    if (layer.protocol === 'ipv4') replaceWord(b, at + 4, (n * 7919) & 0xffff, at + 10);
    else if (layer.protocol === 'udp') replaceWord(b, at, 1024 + (n % 60_000), at + 6, true);
    else if (layer.protocol === 'tcp') {
      replaceWord(b, at, 1024 + (n % 60_000), at + 16);
      replaceWord(b, at + 4, (n * 40503) & 0xffff, at + 16);
      replaceWord(b, at + 8, (n * 9973) & 0xffff, at + 16);
    }
  }
  return b;
}

async function generate(path: string): Promise<void> {
  const frames = sampleFrames().filter((s) => s.linkType === LinkType.Ethernet);
  const w = openCaptureWriter(path, { format: 'pcap', linkType: LinkType.Ethernet, nanoseconds: true });
  let t = 1_700_000_000_000_000_000n;
  for (let i = 0; i < packets; i++) {
    t += 1000n;
    await w.write({ timestampNs: t, data: varied(frames[i % frames.length]!.data, Math.floor(i / frames.length)) });
  }
  await w.close();
}

const outDir = join(root, 'bench', 'out');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `decode-varied-${packets}.pcap`);
if (!existsSync(file)) {
  process.stdout.write(`generating ${file} ...\n`);
  await generate(file);
}
const bytes = statSync(file).size;
// The timed runs discard their output, so first check once that every packet decodes and none is malformed.
// Varying the fields must leave every checksum valid: a "bad" one would mean the generator broke the packets.
const check = spawnSync(
  'bash',
  ['-c', 'set -o pipefail; node "$1" decode "$2" | awk \'/!malformed/ { m++ } /bad-[a-z0-9]*-checksum|not verifiable/ { b++ } END { print NR, m + 0, b + 0 }\'', 'sh', cli, file],
  { encoding: 'utf8' },
);
const [lines, malformed, badChecksums] = check.stdout.trim().split(' ').map(Number);
if (check.status !== 0 || lines !== packets || malformed !== 0 || badChecksums !== 0) {
  throw new Error(`mtuscope decode printed ${lines} lines (${malformed} malformed, ${badChecksums} with a bad or unverifiable checksum) for ${packets} packets: ${check.stderr}`);
}

// Threads share the work, never change the output: the default run must print exactly what one thread prints.
const digest = (threads: string): string =>
  spawnSync('bash', ['-c', 'set -o pipefail; node "$1" decode --json --threads "$3" "$2" | md5sum', 'sh', cli, file, threads], { encoding: 'utf8' }).stdout.trim();
const oneThread = digest('1');
const shared = digest(String(availableParallelism()));
if (oneThread === '' || oneThread !== shared) throw new Error(`decode --json on ${availableParallelism()} threads printed other lines (md5 ${shared}) than on one (md5 ${oneThread})`);

const results = [
  measure(`mtuscope decode --json (${availableParallelism()} thr.)`, ['node', cli, 'decode', '--json', file], runs),
  measure('mtuscope decode --json, 1 thread', ['node', cli, 'decode', '--json', '--threads', '1', file], runs),
  measure('mtuscope decode (text)', ['node', cli, 'decode', file], runs),
  measure('tshark, default analysis', ['tshark', '-r', file, '-n', '-T', 'fields', '-e', 'frame.number'], runs),
  measure('tshark, comparable work', ['tshark', '-r', file, '-n', ...TSHARK_COMPARABLE, '-T', 'fields', '-e', 'frame.number'], runs),
  measure('tcpdump -r -w /dev/null', ['tcpdump', '-r', file, '-w', '/dev/null'], runs),
];
const tsharkDefault = results[3]!;
const tshark = results[4]!;

process.stdout.write(`\n${packets} packets, ${(bytes / 1e6).toFixed(1)} MB (${file}); best of ${runs} runs\n\n`);
process.stdout.write(`tshark comparable work: ${TSHARK_COMPARABLE.join(' ')}\n\n`);
process.stdout.write(
  `${'command'.padEnd(34)}${'seconds'.padStart(9)}${'CPU s'.padStart(8)}${'packets/s'.padStart(12)}${'MB/s'.padStart(9)}${'peak RSS'.padStart(11)}${'vs comparable'.padStart(15)}${'vs default'.padStart(12)}\n`,
);
for (const r of results) {
  const pps = packets / r.seconds;
  const mbs = bytes / 1e6 / r.seconds;
  process.stdout.write(
    `${r.name.padEnd(34)}${r.seconds.toFixed(2).padStart(9)}${r.cpuSeconds.toFixed(2).padStart(8)}${Math.round(pps).toLocaleString('en-US').padStart(12)}${mbs.toFixed(1).padStart(9)}` +
      `${`${r.peakRssMiB.toFixed(0)} MiB`.padStart(11)}${`${(tshark.seconds / r.seconds).toFixed(2)}x`.padStart(15)}${`${(tsharkDefault.seconds / r.seconds).toFixed(2)}x`.padStart(12)}\n`,
  );
}
const ratio = tshark.seconds / results[0]!.seconds;
const met = ratio >= TARGET_RATIO;
process.stdout.write(
  `\ntarget: mtuscope decode --json at least ${TARGET_RATIO}x faster than tshark doing comparable work: ${met ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x; ` +
    `against tshark's default analysis ${(tsharkDefault.seconds / results[0]!.seconds).toFixed(2)}x; on one thread ${(tshark.seconds / results[1]!.seconds).toFixed(2)}x)\n`,
);
process.exitCode = met ? 0 : 1;
