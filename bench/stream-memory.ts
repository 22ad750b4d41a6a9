// Constant memory on a multi-gigabyte capture: writes a pcap of --gib GiB (default 4) to bench/out/, decodes it with
// `mtuscope decode FILE > /dev/null` and with tcpdump (the floor) under /usr/bin/time, and prints the peak RSS of
// each. The file is deleted afterwards unless --keep. Exits 1 if mtuscope's peak RSS exceeds --limit-mib (default
// 256): a reader that held on to what it read would need gigabytes.
//
//   node dist/bench/stream-memory.js [--gib N] [--limit-mib M] [--keep]
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openCaptureWriter } from '../src/capture/writer.js';
import { LinkType } from '../src/packet/link-type.js';
import { sampleFrames } from '../test/support/sample-frames.js';
import { measure } from './measure.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const { values } = parseArgs({ options: { gib: { type: 'string', default: '4' }, 'limit-mib': { type: 'string', default: '256' }, keep: { type: 'boolean' } } });
const gib = Number(values.gib);
const limit = Number(values['limit-mib']);
if (!(gib > 0)) throw new Error(`--gib: "${values.gib}" is not a positive number`);
if (!(limit > 0)) throw new Error(`--limit-mib: "${values['limit-mib']}" is not a positive number`);

const outDir = join(root, 'bench', 'out');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `stream-${gib}gib.pcap`);
const frames = sampleFrames().filter((s) => s.linkType === LinkType.Ethernet);
const w = openCaptureWriter(file, { format: 'pcap', linkType: LinkType.Ethernet });
let packets = 0;
for (let written = 0; written < gib * 2 ** 30; packets++) {
  const data = frames[packets % frames.length]!.data;
  await w.write({ timestampNs: BigInt(packets) * 1000n, data });
  written += 16 + data.length;
}
await w.close();
const bytes = statSync(file).size;
try {
  const ours = measure('mtuscope decode', ['node', cli, 'decode', file]);
  const floor = measure('tcpdump -r -w /dev/null', ['tcpdump', '-r', file, '-w', '/dev/null']);
  process.stdout.write(`${packets} packets, ${(bytes / 2 ** 30).toFixed(2)} GiB (${file})\n\n`);
  for (const r of [ours, floor]) {
    process.stdout.write(`${r.name.padEnd(28)}${r.seconds.toFixed(1).padStart(8)} s${`${r.peakRssMiB.toFixed(0)} MiB peak RSS`.padStart(22)}\n`);
  }
  const met = ours.peakRssMiB <= limit;
  process.stdout.write(`\nconstant memory: mtuscope peak RSS ${ours.peakRssMiB.toFixed(0)} MiB for a ${(bytes / 2 ** 30).toFixed(2)} GiB file, limit ${limit} MiB: ${met ? 'met' : 'NOT met'}\n`);
  process.exitCode = met ? 0 : 1;
} finally {
  if (!values.keep) rmSync(file, { force: true });
}
