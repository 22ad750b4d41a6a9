/**
 * `mtuscope decode` on a real `tcpdump -i any` capture of a router (kernel-captures.ts), checked line by line against
 * what tcpdump itself prints for the same file: the direction of every packet (a forwarded packet is there twice, In
 * on one interface and Out on the other), ARP, neighbor discovery, and the protocol of fragments after the first.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ipProtocolName } from '../../src/packet/ip-protocol.js';
import { mtuscope } from '../support/cli.js';
import { KERNEL_ADDR, makeKernelCaptures } from '../support/kernel-captures.js';
import { needsRoot } from '../support/root.js';

interface TcpdumpLine {
  readonly direction: string;
  readonly text: string;
}

/** tcpdump 4.99 on an SLL2 file: "TIME IFNAME DIRECTION TEXT", the name being whatever this host calls that index. */
async function tcpdumpLines(path: string): Promise<TcpdumpLine[]> {
  const { stdout } = await promisify(execFile)('tcpdump', ['-n', '-r', path], { maxBuffer: 64 << 20 });
  return stdout
    .split('\n')
    .filter((l) => /^\d\d:\d\d:\d\d\.\d+ /.test(l))
    .map((l) => {
      const m = /^\S+ \S+\s+(In|Out|B|M|P)\s+(.*)$/.exec(l);
      assert.ok(m, `tcpdump line without a direction: ${l}`);
      return { direction: m[1]!, text: m[2]! };
    });
}

describe('decode of a tcpdump -i any capture, against tcpdump', needsRoot(), () => {
  let dir = '';
  let ours: string[] = [];
  let theirs: TcpdumpLine[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mts-any-'));
    const any = (await makeKernelCaptures(dir)).find((c) => c.name === 'router-any');
    assert.ok(any);
    const r = await mtuscope(['decode', '-nr', any.path]);
    assert.equal(r.code, 0, r.stderr);
    ours = r.stdout.trimEnd().split('\n');
    theirs = await tcpdumpLines(any.path);
  });

  after(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('gives every packet the direction tcpdump gives it, with the interface index', () => {
    assert.equal(ours.length, theirs.length);
    assert.ok(ours.length > 200);
    ours.forEach((line, i) => {
      const m = / sll2\S* len=\d+ ifindex (\d+) (In|Out|B|M|P) \| /.exec(line);
      assert.ok(m, `line ${i + 1} names no interface and direction: ${line}`);
      assert.equal(m[2], theirs[i]!.direction, `line ${i + 1}: ${line} / tcpdump: ${theirs[i]!.text}`);
    });
    const directions = new Set(ours.map((l) => / ifindex \d+ (\S+) /.exec(l)?.[1]));
    assert.ok(directions.has('In') && directions.has('Out'), [...directions].join(' '));
  });

  it('shows a forwarded packet twice: In on one interface, Out with one hop less on the other', () => {
    const request = (direction: string, ttl: number): RegExp =>
      new RegExp(` ifindex (\\d+) ${direction} \\| ${KERNEL_ADDR.clientV4.replace(/\./g, '\\.')} > ${KERNEL_ADDR.serverFragPingV4.replace(/\./g, '\\.')} ttl=${ttl} .* echo-request `);
    const inbound = ours.map((l) => request('In', 64).exec(l)).find((m) => m !== null);
    const outbound = ours.map((l) => request('Out', 63).exec(l)).find((m) => m !== null);
    assert.ok(inbound && outbound);
    assert.notEqual(inbound[1], outbound[1]);
  });

  it('says what tcpdump says of ARP, neighbor discovery and later fragments', () => {
    let arp = 0;
    let nd = 0;
    let fragments = 0;
    theirs.forEach(({ text }, i) => {
      const line = ours[i]!;
      let m = /^ARP, (Request who-has \S+ tell \S+|Reply \S+ is-at \S+), length/.exec(text);
      if (m) {
        arp++;
        assert.ok(line.endsWith(` | ${m[1]!.replace(/^Request/, 'request').replace(/^Reply/, 'reply')}`), `${line} / tcpdump: ${text}`);
        return;
      }
      m = /ICMP6, (neighbor solicitation, who has|neighbor advertisement, tgt is) (\S+?),/.exec(text);
      if (m) {
        nd++;
        const [kind, words] = m[1]!.startsWith('neighbor solicitation') ? ['neighbor-solicitation', 'who-has'] : ['neighbor-advertisement', 'tgt-is'];
        assert.match(line, new RegExp(` \\| ${kind} ${words} ${m[2]!.replace(/\./g, '\\.')}( flags=[RSO]+)?$`), `tcpdump: ${text}`);
        return;
      }
      for (const kind of ['router solicitation', 'router advertisement']) {
        if (text.includes(`ICMP6, ${kind},`)) {
          nd++;
          assert.match(line, new RegExp(` \\| ${kind.replace(' ', '-')}( |$)`), `tcpdump: ${text}`);
        }
      }
      m = /^IP \S+ > \S+: ip-proto-(\d+)/.exec(text);
      if (m) {
        fragments++;
        assert.ok(line.endsWith(`| ${ipProtocolName(Number(m[1]))} fragment`), `${line} / tcpdump: ${text}`);
      }
    });
    assert.ok(arp >= 4, `${arp} ARP packets`);
    assert.ok(nd >= 4, `${nd} neighbor discovery packets`);
    assert.ok(fragments >= 10, `${fragments} later fragments`);
  });
});
