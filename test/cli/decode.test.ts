import assert from 'node:assert/strict';
import { type ChildProcessByStdio, execFileSync, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { openCaptureWriter } from '../../src/capture/writer.js';
import { emitArp } from '../../src/packet/arp.js';
import { put16 } from '../../src/packet/bytes.js';
import { foldSum, pseudoHeaderSum } from '../../src/packet/checksum.js';
import { emitIcmpv6 } from '../../src/packet/icmpv6.js';
import { EtherType, IpProtocol } from '../../src/packet/ip-protocol.js';
import { emitSll } from '../../src/packet/sll.js';
import { emitSll2 } from '../../src/packet/sll2.js';
import { LinkType } from '../../src/packet/link-type.js';
import { CLI, type CliRun, mtuscope as runCli, runToEnd } from '../support/cli.js';
import { eth, ipv4, ipv6, sampleFrames, tcp, V4, V6 } from '../support/sample-frames.js';
import { until } from '../support/until.js';

function mtuscope(args: readonly string[], stdin?: Uint8Array): Promise<CliRun> {
  return runCli(args, stdin === undefined ? {} : { stdin });
}

function run(command: string, argv: readonly string[]): Promise<CliRun> {
  return runToEnd(command, argv);
}

/** The 24-byte file header, then each record (16-byte header and data) of a little-endian pcap file. */
function pcapRecords(file: Uint8Array): { header: Uint8Array; records: Uint8Array[] } {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const records: Uint8Array[] = [];
  for (let o = 24; o < file.length; ) {
    const end = o + 16 + view.getUint32(o + 8, true);
    records.push(file.subarray(o, end));
    o = end;
  }
  return { header: file.subarray(0, 24), records };
}

/** Collects a running decode's standard output; `exit` settles when it ends. */
function watch(child: ChildProcessByStdio<Writable | null, Readable, Readable>): { lines: () => string[]; exit: Promise<number | null>; stderr: () => string } {
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exit = new Promise<number | null>((resolve) => child.on('close', resolve));
  return { lines: () => out.split('\n').filter((l) => l !== ''), exit, stderr: () => err };
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

  it('reads the capture given with -r, as tcpdump takes it (-r FILE, -nr FILE, -r -)', async () => {
    const plain = await mtuscope(['decode', pcap]);
    assert.equal(plain.code, 0, plain.stderr);
    for (const args of [['-r', pcap], ['-nr', pcap], ['-n', '-r', pcap], ['-c', '100', '-r', pcap], [`--read=${pcap}`]]) {
      const r = await mtuscope(['decode', ...args]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, plain.stdout, args.join(' '));
    }
    const stdin = await mtuscope(['decode', '-r', '-'], await readFile(pcap));
    assert.equal(stdin.stdout, plain.stdout);
    const both = await mtuscope(['decode', '-r', pcap, pcapng]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /^mtuscope decode: give the capture once, as FILE or as -r FILE, not both/);
  });

  it('shows the packets of a live input as they arrive, from a pipe and from a FIFO', async () => {
    const { header, records } = pcapRecords(await readFile(pcap));
    const whole = (await mtuscope(['decode', pcap])).stdout.trimEnd().split('\n');
    const fifo = join(dir, 'live.fifo');
    execFileSync('mkfifo', [fifo]);
    for (const how of ['pipe', 'fifo'] as const) {
      const child = spawn(process.execPath, [CLI, 'decode', how === 'pipe' ? '-' : fifo], { stdio: ['pipe', 'pipe', 'pipe'] });
      const w = watch(child);
      const input: Writable = how === 'pipe' ? child.stdin : createWriteStream(fifo);
      try {
        input.write(Buffer.concat([header, ...records.slice(0, 3)]));
        // The input stays open: the lines must come while decode waits for more.
        await until(() => w.lines().length >= 3, 20_000, `${how}: the first 3 lines before the input ends`);
        assert.deepEqual(w.lines(), whole.slice(0, 3));
        input.end(Buffer.concat(records.slice(3)));
        assert.equal(await w.exit, 0, w.stderr());
        assert.deepEqual(w.lines(), whole);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
        input.destroy();
      }
    }
  });

  it('prints the same lines on a terminal', async () => {
    const tty = await run('script', ['-qec', `"${process.execPath}" "${CLI}" decode "${pcapng}"`, '/dev/null']);
    assert.equal(tty.code, 0, tty.stderr);
    const plain = await mtuscope(['decode', pcapng]);
    assert.equal(tty.stdout.replace(/\r\n/g, '\n'), plain.stdout);
  });

  it('names interface and direction of -i any captures, ARP and neighbor discovery, offloaded checksums and super-packets', async () => {
    const file = join(dir, 'any.pcapng');
    const w = openCaptureWriter(file, {
      format: 'pcapng',
      interfaces: [
        { linkType: LinkType.LinuxSll2, name: 'any' },
        { linkType: LinkType.LinuxSll2, name: 'eth7' },
        { linkType: LinkType.LinuxSll },
        { linkType: LinkType.Ethernet },
        { linkType: LinkType.Raw },
      ],
    });
    const cooked2 = (interfaceIndex: number, packetType: number, protocol: number, payload: Uint8Array, arphrdType = 1): Uint8Array =>
      emitSll2({ protocol, reserved: 0, interfaceIndex, arphrdType, packetType, addressLength: 6, address: new Uint8Array(8) }, payload);
    const arp = (operation: number): Uint8Array =>
      emitArp({
        hardwareType: 1,
        protocolType: EtherType.Ipv4,
        operation,
        senderHardwareAddress: operation === 1 ? '02:00:00:00:00:0a' : '02:00:00:00:00:0b',
        senderProtocolAddress: operation === 1 ? '10.0.1.2' : '10.0.1.1',
        targetHardwareAddress: operation === 1 ? '00:00:00:00:00:00' : '02:00:00:00:00:0a',
        targetProtocolAddress: operation === 1 ? '10.0.1.1' : '10.0.1.2',
      });
    const target = Uint8Array.from([0xfd, 0, 0, 1, ...new Array<number>(11).fill(0), 1]);
    const ns = ipv6({ nextHeader: IpProtocol.Icmpv6, hopLimit: 255, dst: 'ff02::1:ff00:1' }, emitIcmpv6({ kind: 'other', type: 135, code: 0, rest: 0, data: target }, V6.client, 'ff02::1:ff00:1'));
    const segment = tcp({}, new Uint8Array(100), V4.client, V4.server);
    const seeded = segment.slice();
    put16(seeded, 16, foldSum(pseudoHeaderSum(Uint8Array.from([10, 1, 0, 2]), Uint8Array.from([10, 2, 0, 2]), IpProtocol.Tcp, seeded.length)));
    const damaged = segment.slice();
    damaged[16]! ^= 0x01;
    const rawTcp = (ipLength: number): Uint8Array => ipv4({ protocol: IpProtocol.Tcp }, tcp({}, new Uint8Array(ipLength - 40), V4.client, V4.server));
    const frames: [number, Uint8Array][] = [
      [0, cooked2(4, 4, EtherType.Arp, arp(1))],
      [1, cooked2(4, 0, EtherType.Arp, arp(2))],
      [2, emitSll({ packetType: 1, arphrdType: 1, addressLength: 6, address: new Uint8Array(8), protocol: EtherType.Ipv6 }, ns)],
      [3, eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Tcp }, seeded))],
      [3, eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Tcp }, damaged))],
      [4, rawTcp(20_000)],
      [4, rawTcp(3000)],
      [0, cooked2(1, 4, EtherType.Ipv4, rawTcp(60_000), 772)],
    ];
    for (const [interfaceId, data] of frames) await w.write({ timestampNs: 1_000_000_000n, data, interfaceId });
    await w.close();

    const r = await mtuscope(['decode', file]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, / sll2:arp len=48 ifindex 4 Out \| request who-has 10\.0\.1\.1 tell 10\.0\.1\.2$/);
    assert.match(lines[1]!, / sll2:arp len=48 eth7 In \| reply 10\.0\.1\.1 is-at 02:00:00:00:00:0b$/);
    assert.match(lines[2]!, / sll:ipv6:icmpv6 len=\d+ B \| fd00:1::2 > ff02::1:ff00:1 hlim=255 iplen=64 \| neighbor-solicitation who-has fd00:1::1$/);
    assert.match(lines[3]!, / eth:ipv4:tcp .* len=100 checksum not verifiable \(offload\)$/);
    assert.match(lines[4]!, / eth:ipv4:tcp .* len=100 bad-tcp-checksum$/);
    assert.match(lines[5]!, / ipv4:tcp len=20000 .* \(GSO\/GRO super-packet: iplen above 9216, the largest common MTU\)$/);
    assert.doesNotMatch(lines[6]!, /super-packet/, 'a 3000-byte packet may be a jumbo frame');
    assert.doesNotMatch(lines[7]!, /super-packet/, 'loopback carries 64 KiB packets');
    assert.match(lines[7]!, / ifindex 1 Out \|/);

    const withMtu = (await mtuscope(['decode', '--link-mtu', '1500', file])).stdout.trimEnd().split('\n');
    assert.match(withMtu[6]!, / \(GSO\/GRO super-packet: iplen above the link MTU 1500\)$/);
    assert.doesNotMatch(withMtu[3]!, /super-packet/);
    assert.doesNotMatch(withMtu[7]!, /super-packet/);
    for (const bad of ['67', '65537', 'x']) {
      const u = await mtuscope(['decode', '--link-mtu', bad, file]);
      assert.equal(u.code, 2);
      assert.match(u.stderr, new RegExp(`--link-mtu: "${bad}" is not a whole number from 68 to 65536`));
    }
  });
});
