import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { openCaptureWriter } from '../../src/capture/writer.js';
import { LinkType } from '../../src/packet/link-type.js';
import { sampleFrames } from '../support/sample-frames.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to its end, collecting its output; `stdin`, when given, is written to its standard input. */
function run(command: string, argv: readonly string[], stdin?: Uint8Array): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

function mtuscope(args: readonly string[], stdin?: Uint8Array): Promise<Run> {
  return run(process.execPath, [CLI, ...args], stdin);
}

const samples = sampleFrames();
const ethSamples = samples.filter((s) => s.linkType === LinkType.Ethernet);

describe('mtuscope decode', () => {
  let dir = '';
  let pcapng = '';
  let pcap = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mts-cli-'));
    pcapng = join(dir, 'samples.pcapng');
    const w = openCaptureWriter(pcapng, { format: 'pcapng', interfaces: [{ linkType: LinkType.Ethernet, tsresol: 9 }, { linkType: LinkType.Raw }] });
    for (const [i, s] of samples.entries()) {
      await w.write({ timestampNs: 1_700_000_000_123_456_789n + BigInt(i), data: s.data, interfaceId: s.linkType === LinkType.Raw ? 1 : 0 });
    }
    await w.close();
    pcap = join(dir, 'eth.pcap');
    const p = openCaptureWriter(pcap, { format: 'pcap', linkType: LinkType.Ethernet });
    for (const s of ethSamples) await p.write({ timestampNs: 1_000_000n, data: s.data });
    await p.close();
  });
  after(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('prints one line per packet with the stack, flags, ICMP type and MTU', async () => {
    const r = await mtuscope(['decode', pcapng]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, samples.length);
    assert.match(lines[0]!, /^1 2023-11-14T22:13:20\.123456789Z eth:ipv4:tcp len=74 10\.1\.0\.2 > 10\.2\.0\.2 ttl=64 id=4660 iplen=60 DF \| 40000 > 80 \[S\] .* mss=1460$/);
    const line = (name: string): string => lines[samples.findIndex((s) => s.name === name)]!;
    assert.match(line('icmp frag-needed quoting a tcp segment'), /eth:ipv4:icmp:\[ipv4:tcp\] .* unreachable frag-needed mtu=1400 \| \[quoting 10\.1\.0\.2 > 10\.2\.0\.2 .* 40000 > 80 \[P\.\]/);
    assert.match(line('icmpv6 packet too big quoting tcp'), /packet-too-big mtu=1280/);
    assert.match(line('ipv4 first fragment'), / MF frag-offset=0 /);
    // A later fragment holds no header of what it carries; the IP header says what that is.
    assert.match(line('ipv4 last fragment'), /eth:ipv4 len=\d+ .* frag-offset=1480 \| udp fragment$/);
    assert.match(line('ipv6 last fragment'), /frag id=11259375 frag-offset=1232 \| udp fragment$/);
    assert.match(line('ipv4 first fragment'), /frag-offset=0 \| 5000 > 6000 len=2992$/);
    assert.match(line('vxlan with inner ping'), /eth:ipv4:udp:vxlan:eth:ipv4:icmp .* vni=4242 .* echo-request id=1 seq=2$/);
    assert.match(line('raw ipv6 tcp'), /^\d+ \S+ ipv6:tcp /);
    assert.ok(lines.every((l) => !l.includes('!malformed')));
  });

  it('prints one JSON object per packet with --json', async () => {
    const r = await mtuscope(['decode', '--json', pcapng]);
    assert.equal(r.code, 0, r.stderr);
    const objects = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(objects.length, samples.length);
    const first = objects[0]!;
    assert.equal(first.n, 1);
    assert.equal(first.time, '1700000000.123456789');
    assert.equal(first.linkType, 'ethernet');
    assert.equal(first.truncated, false);
    const layers = first.layers as { protocol: string; repr: Record<string, unknown> }[];
    assert.deepEqual(layers.map((l) => l.protocol), ['ethernet', 'ipv4', 'tcp']);
    assert.equal(layers[1]!.repr.src, '10.1.0.2');
    assert.equal(layers[1]!.repr.dontFragment, true);
    assert.equal(layers[1]!.repr.options, '', 'byte fields are hex');
    const icmp = objects[samples.findIndex((s) => s.name.startsWith('icmp frag-needed'))]!;
    const icmpLayer = (icmp.layers as { protocol: string; repr: Record<string, unknown> }[]).find((l) => l.protocol === 'icmpv4')!;
    assert.equal(icmpLayer.repr.nextHopMtu, 1400);
    assert.equal(icmpLayer.repr.quoted, 548, 'quoted bytes are given as a count');
    const raw = objects.find((o) => o.linkType === 'raw');
    assert.equal(raw?.interface, 1);
  });

  it('reads pcap from standard input with "-" and stops after --count packets', async () => {
    const r = await mtuscope(['decode', '-c', '3', '-'], await readFile(pcap));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trimEnd().split('\n').length, 3);
  });

  it('prints the packets before a cut record, then the byte offset of the damage, exit status 1', async () => {
    const cut = join(dir, 'cut.pcap');
    await writeFile(cut, await readFile(pcap));
    // 24-byte file header, then records of 16 + length bytes: cut the third record in half.
    const len = (i: number): number => 16 + ethSamples[i]!.data.length;
    const third = 24 + len(0) + len(1);
    await truncate(cut, third + 20);
    const r = await mtuscope(['decode', cut]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout.trimEnd().split('\n').length, 2);
    assert.match(r.stderr, new RegExp(`^mtuscope decode: ${cut.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: .*at byte offset ${third}\\b`));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  it('says a file that is not a capture is not one, at offset 0, exit status 1', async () => {
    const junk = join(dir, 'junk.txt');
    await writeFile(junk, 'hello, this is not a capture file\n');
    const r = await mtuscope(['decode', junk]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /at byte offset 0/);
    const missing = await mtuscope(['decode', join(dir, 'nope.pcap')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope\.pcap: .*ENOENT|no such file/i);
  });

  it('reports usage errors with exit status 2 and names what was wrong', async () => {
    const cases: [string[], RegExp][] = [
      [['decode'], /^mtuscope decode: expected FILE or -r FILE, got nothing/],
      [['decode', pcap, pcap], /^mtuscope decode: expected FILE, got "/],
      [['decode', '--count', 'x', pcap], /--count: "x"/],
      [['decode', '--count', '-1', pcap], /--count/],
      [['decode', '--vxlan-port', '70000', pcap], /--vxlan-port: "70000"/],
      [['decode', '--fou', '5555', pcap], /--fou: .*PORT:IPPROTO/],
      [['decode', '--bogus', pcap], /bogus/],
      [['frobnicate'], /unknown command "frobnicate"/],
    ];
    for (const [args, message] of cases) {
      const r = await mtuscope(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stdout, '');
    }
  });

  it('prints help with exit status 0', async () => {
    const top = await mtuscope(['--help']);
    assert.equal(top.code, 0);
    assert.match(top.stdout, /^ {2}decode +print one line/m);
    const sub = await mtuscope(['decode', '--help']);
    assert.equal(sub.code, 0);
    assert.match(sub.stdout, /--json/);
  });

  it('stops quietly when its reader goes away', async () => {
    const big = join(dir, 'big.pcap');
    const w = openCaptureWriter(big, { format: 'pcap', linkType: LinkType.Ethernet });
    for (let i = 0; i < 50_000; i++) await w.write({ timestampNs: BigInt(i), data: ethSamples[i % ethSamples.length]!.data });
    await w.close();
    const r = await run('bash', ['-c', 'set -o pipefail; node "$1" decode "$2" | head -n 1', 'bash', CLI, big]);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.equal(r.stdout.split('\n').length, 2);
  });
});
