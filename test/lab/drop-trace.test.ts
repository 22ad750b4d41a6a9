import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import {
  DropTrace,
  TRACEFS_DIR,
  dropReasonNumbers,
  listDropTraces,
  parseKfreeSkbLine,
  removeStaleDropTraces,
  summarizeDrops,
} from '../../src/lab/drop-trace.js';
import { runToEnd, type CliRun } from '../support/cli.js';
import { needsRoot } from '../support/root.js';

const id = randomBytes(3).toString('hex');
const nsA = `mtl-${id}-a`;
const nsB = `mtl-${id}-b`;

function sh(cmd: string, argv: readonly string[]): Promise<CliRun> {
  return runToEnd(cmd, argv, { timeoutMs: 15_000 });
}

async function must(cmd: string, argv: readonly string[]): Promise<string> {
  const r = await sh(cmd, argv);
  if (r.code !== 0) throw new Error(`${cmd} ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

describe('parsing kfree_skb trace lines', () => {
  it('reads location, function, reason and protocol', () => {
    const line =
      '          <idle>-0       [001] ..s1.  1765.914507: kfree_skb: skbaddr=00000000de23332b rx_sk=0000000000000000 protocol=2048 location=ip_fragment.constprop.0+0x84/0xa0 reason: NOT_SPECIFIED';
    assert.deepEqual(parseKfreeSkbLine(line), {
      cpu: 1,
      time: 1765.914507,
      location: 'ip_fragment.constprop.0+0x84/0xa0',
      function: 'ip_fragment',
      reason: 'NOT_SPECIFIED',
      protocol: 'IPv4',
    });
    const v6 = parseKfreeSkbLine(
      '    ping-1234    [000] b..1.   12.000001: kfree_skb: skbaddr=0000000011 rx_sk=0000000000000000 protocol=34525 location=nf_hook_slow+0xa1/0xf0 reason: NETFILTER_DROP',
    );
    assert.equal(v6?.protocol, 'IPv6');
    assert.equal(v6?.function, 'nf_hook_slow');
    assert.equal(parseKfreeSkbLine('# tracer: nop'), undefined);
    assert.equal(parseKfreeSkbLine('   curl-1 [000] ..... 1.0: consume_skb: skbaddr=00 location=x+0x1/0x2'), undefined);
  });

  it('counts by function, reason and protocol, most frequent first', () => {
    const e = (fn: string, reason: string) => ({ time: 0, cpu: 0, location: `${fn}+0x1/0x2`, function: fn, reason, protocol: 'IPv4' });
    const counts = summarizeDrops([e('a', 'X'), e('b', 'Y'), e('b', 'Y'), e('a', 'Z')]);
    assert.deepEqual(
      counts.map((c) => [c.function, c.reason, c.count]),
      [['b', 'Y', 2], ['a', 'X', 1], ['a', 'Z', 1]],
    );
  });

  it('reads reason numbers from the event format', () => {
    const m = dropReasonNumbers('print fmt: "...", __print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, { 12, "NETFILTER_DROP" })');
    assert.equal(m.get('NETFILTER_DROP'), 12);
    assert.equal(m.get('NOT_SPECIFIED'), 2);
  });
});

describe('drop trace on real kernel drops', needsRoot('for network namespaces and tracefs'), () => {
  before(async () => {
    await must('ip', ['netns', 'add', nsA]);
    await must('ip', ['netns', 'add', nsB]);
    await must('ip', ['-n', nsA, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1', 'netns', nsB]);
    for (const [ns, addr] of [[nsA, '10.0.0.1/24'], [nsB, '10.0.0.2/24']] as const) {
      await must('ip', ['-n', ns, 'addr', 'add', addr, 'dev', 'eth1']);
      await must('ip', ['-n', ns, 'link', 'set', 'eth1', 'up']);
      await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
  });
  after(async () => {
    await sh('ip', ['netns', 'del', nsA]);
    await sh('ip', ['netns', 'del', nsB]);
  });

  it('shows an iptables DROP as NETFILTER_DROP and removes its instance', async () => {
    // A reachable peer first: the pings below must fail only because of the rule.
    await must('ip', ['netns', 'exec', nsA, 'ping', '-c', '1', '-W', '2', '10.0.0.2']);
    await must('ip', ['netns', 'exec', nsB, 'iptables', '-A', 'INPUT', '-p', 'icmp', '--icmp-type', 'echo-request', '-j', 'DROP']);
    const name = `mtl-${id}`;
    const trace = await DropTrace.start(name);
    assert.ok(existsSync(join(TRACEFS_DIR, 'instances', name)));
    const pings = 6;
    const r = await sh('ip', ['netns', 'exec', nsA, 'ping', '-c', String(pings), '-i', '0.1', '-W', '1', '10.0.0.2']);
    assert.notEqual(r.code, 0, 'the pings were dropped');
    const result = await trace.stop();
    assert.ok(result.available, JSON.stringify(result));
    const nf = result.drops.filter((d) => d.reason === 'NETFILTER_DROP' && d.protocol === 'IPv4');
    const count = nf.reduce((n, d) => n + d.count, 0);
    assert.ok(count >= pings, `expected at least ${pings} NETFILTER_DROP drops, got ${JSON.stringify(result.drops)}`);
    // nft_do_chain with the nf_tables backend of iptables, nf_hook_slow with the legacy one.
    assert.ok(nf.some((d) => d.function === 'nft_do_chain' || d.function === 'nf_hook_slow'), JSON.stringify(nf));
    assert.ok(result.excludedReasons.includes('SOCKET_CLOSE'));
    assert.ok(!existsSync(join(TRACEFS_DIR, 'instances', name)), 'instance removed');
    assert.ok(!listDropTraces().includes(name));
  });

  it('removes its instance when the process is killed by SIGTERM', async () => {
    const name = `mtl-${id}-sig`;
    const module = fileURLToPath(new URL('../../src/lab/drop-trace.js', import.meta.url));
    const script = `import(${JSON.stringify(module)}).then(async (m) => { await m.DropTrace.start(${JSON.stringify(name)}); console.log('started'); setInterval(() => {}, 1000); });`;
    const child = spawn('node', ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (s: string) => {
        if (s.includes('started')) resolve();
      });
      child.on('exit', () => reject(new Error('child exited early')));
    });
    assert.ok(listDropTraces().includes(name));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, s) => resolve(s)));
    child.kill('SIGTERM');
    assert.equal(await exited, 'SIGTERM', 'the process still dies of the signal');
    assert.ok(!listDropTraces().includes(name), 'instance removed on SIGTERM');
  });

  it('gc removes an instance a dead run left behind, and only when told it is stale', async () => {
    const name = `mtl-${id}-gc`;
    const trace = await DropTrace.start(name);
    try {
      assert.deepEqual(removeStaleDropTraces(() => false), []);
      assert.ok(listDropTraces().includes(name));
      assert.deepEqual(removeStaleDropTraces((n) => n === name), [name]);
      assert.ok(!listDropTraces().includes(name));
    } finally {
      trace.destroySync();
    }
  });
});
