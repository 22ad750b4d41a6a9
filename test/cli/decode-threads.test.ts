import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openCaptureWriter } from '../../src/capture/writer.js';
import { LinkType } from '../../src/packet/link-type.js';
import { CLI, type CliRun, mtuscope as runCli, runToEnd } from '../support/cli.js';
import { sampleFrames } from '../support/sample-frames.js';

/** Enough packets for several read chunks (1 MiB each), so that the work is shared among the threads. */
const PACKETS = 12_000;

async function decode(args: readonly string[]): Promise<CliRun> {
  return runCli(['decode', ...args]);
}

describe('mtuscope decode --threads', () => {
  let dir = '';
  let pcap = '';
  let pcapng = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mts-threads-'));
    const samples = sampleFrames();
    pcap = join(dir, 'eth.pcap');
    const eth = samples.filter((s) => s.linkType === LinkType.Ethernet);
    const p = openCaptureWriter(pcap, { format: 'pcap', linkType: LinkType.Ethernet, nanoseconds: true });
    for (let i = 0; i < PACKETS; i++) await p.write({ timestampNs: 1_700_000_000_000_000_000n + BigInt(i * 1_001), data: eth[i % eth.length]!.data });
    await p.close();
    // Every link type of the samples, each on an interface of its own with a name, as `tcpdump -i any` and dumpcap write.
    const linkTypes = [...new Set(samples.map((s) => s.linkType))];
    pcapng = join(dir, 'mixed.pcapng');
    const w = openCaptureWriter(pcapng, { format: 'pcapng', interfaces: linkTypes.map((linkType, i) => ({ linkType, tsresol: 9, name: `if${i}` })) });
    for (let i = 0; i < PACKETS; i++) {
      const s = samples[i % samples.length]!;
      await w.write({ timestampNs: 1_600_000_000_000_000_000n + BigInt(i * 7_919), data: s.data, interfaceId: linkTypes.indexOf(s.linkType) });
    }
    await w.close();
  });
  after(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('prints exactly the lines of one thread on 2 and 3 threads, JSON and text, pcap and pcapng', async () => {
    for (const file of [pcap, pcapng]) {
      for (const json of [['--json'], []]) {
        const one = await decode([...json, '--threads', '1', file]);
        assert.equal(one.code, 0, one.stderr);
        assert.equal(one.stdout.split('\n').length, PACKETS + 1);
        for (const threads of ['2', '3']) {
          const shared = await decode([...json, '--threads', threads, file]);
          assert.equal(shared.code, 0, shared.stderr);
          assert.equal(shared.stderr, '');
          // Compared whole, so that a batch out of order, lost or doubled fails; the first difference is shown.
          if (shared.stdout !== one.stdout) {
            const a = one.stdout.split('\n');
            const b = shared.stdout.split('\n');
            const at = a.findIndex((line, i) => line !== b[i]);
            assert.fail(`${file} ${json.join('')} --threads ${threads}: line ${at + 1} is ${JSON.stringify(b[at])}, one thread printed ${JSON.stringify(a[at])}`);
          }
        }
      }
    }
  });

  it('stops after --count packets in the middle of a batch, as one thread does', async () => {
    const one = await decode(['--threads', '1', '-c', '7777', pcapng]);
    const shared = await decode(['--threads', '2', '-c', '7777', pcapng]);
    assert.equal(one.stdout.split('\n').length, 7778);
    assert.equal(shared.stdout, one.stdout);
    assert.equal(shared.code, 0);
  });

  it('prints every packet before a cut record, then the same error, exit status 1', async () => {
    const whole = await readFile(pcap);
    const cut = join(dir, 'cut.pcap');
    // Well past the first read chunks: several batches were handed out before the damage is found.
    await writeFile(cut, whole.subarray(0, Math.floor(whole.length * 0.8)));
    const one = await decode(['--json', '--threads', '1', cut]);
    const shared = await decode(['--json', '--threads', '2', cut]);
    assert.equal(one.code, 1);
    assert.match(one.stderr, /^mtuscope decode: .*truncated .* at byte offset \d+/);
    assert.ok(one.stdout.split('\n').length > PACKETS / 2);
    assert.equal(shared.code, 1);
    assert.equal(shared.stderr, one.stderr);
    assert.equal(shared.stdout, one.stdout);
  });

  it('decodes standard input on threads too, with the same lines', async () => {
    const one = await decode(['--threads', '1', pcap]);
    const shared = await runCli(['decode', '--threads', '2', '-'], { stdin: await readFile(pcap) });
    assert.equal(shared.code, 0, shared.stderr);
    assert.equal(shared.stdout, one.stdout);
  });

  it('stops quietly when its reader goes away', async () => {
    const r = await runToEnd('bash', ['-c', 'set -o pipefail; node "$1" decode --json --threads 2 "$2" | head -n 1', 'bash', CLI, pcap]);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.equal(r.stdout.split('\n').length, 2);
  });

  it('says what is wrong with --threads, exit status 2', async () => {
    for (const bad of ['0', '65', 'two', '-1']) {
      const r = await decode([`--threads=${bad}`, pcap]);
      assert.equal(r.code, 2, `--threads ${bad}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^mtuscope decode: --threads: "${bad}" is not a whole number from 1 to 64`));
      assert.equal(r.stdout, '');
    }
  });
});
