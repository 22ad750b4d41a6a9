/**
 * The netfilter queue binding (native/nfqueue through src/host/packet-queue.ts) on a real kernel: IPv4 UDP datagrams
 * from a to b are queued in b's mangle PREROUTING to test/support/queue-reader.ts, which drops, marks, replaces,
 * throws on or accepts each by its payload; a UDP socket on b says what got through, and a counting rule
 * (src/lab/traffic/rule-counters.ts) the marked packets. A reader kept busy makes the datagrams behind it wait in
 * the kernel: they must come in one batch.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startLab } from '../../src/lab/lab.js';
import type { LabProcess, RunningLab } from '../../src/lab/running-lab.js';
import { countPackets, type PacketCounter } from '../../src/lab/traffic/rule-counters.js';
import { needsRoot } from '../support/root.js';
import { until } from '../support/until.js';

const READER = fileURLToPath(new URL('../support/queue-reader.js', import.meta.url));
const QUEUE = 7;
const PORT = 9999;
const TEST_MARK = 0x42;

const RECEIVER = `
const s = require('node:dgram').createSocket('udp4');
s.on('message', (m) => process.stdout.write(JSON.stringify({ got: m.toString('latin1') }) + '\\n'));
s.bind(${PORT}, () => process.stdout.write('{"event":"listening"}\\n'));
`;

function sender(address: string, payloads: readonly string[]): string {
  return `
const s = require('node:dgram').createSocket('udp4');
const payloads = ${JSON.stringify(payloads)};
let left = payloads.length;
for (const p of payloads) s.send(Buffer.from(p, 'latin1'), ${PORT}, ${JSON.stringify(address)}, () => { if (--left === 0) s.close(); });
`;
}

function lines<T>(proc: LabProcess, key: string): T[] {
  return proc.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, T>)
    .filter((o) => key in o)
    .map((o) => o[key] as T);
}

describe('netfilter queue binding (native/nfqueue)', needsRoot(), () => {
  let lab: RunningLab | undefined;
  let reader: LabProcess;
  let receiver: LabProcess;
  let marked: PacketCounter;
  const numbers = (kind: string, n: number, from = 0): string[] => Array.from({ length: n }, (_, i) => `${kind}-${String(from + i).padStart(2, '0')}`);

  before(async () => {
    lab = await startLab({
      name: 'nfq',
      nodes: [
        { name: 'a', kind: 'host' },
        { name: 'b', kind: 'host' },
      ],
      links: [{ endpoints: [{ node: 'a', ifname: 'eth1' }, { node: 'b', ifname: 'eth1' }] }],
    });
    await lab.mustExec('b', ['iptables', '-t', 'mangle', '-A', 'PREROUTING', '-p', 'udp', '--dport', String(PORT), '-j', 'NFQUEUE', '--queue-num', String(QUEUE)]);
    const markedMatch = ['-p', 'udp', '--dport', String(PORT), '-m', 'mark', '--mark', String(TEST_MARK)];
    marked = await countPackets(lab, 'b', 'INPUT', 'nfq-marked', { 4: markedMatch, 6: markedMatch });
    reader = lab.spawn('b', [process.execPath, READER, String(QUEUE), String(TEST_MARK)]);
    receiver = lab.spawn('b', [process.execPath, '-e', RECEIVER]);
    await Promise.all([reader.waitForOutput(/"bound"/, 10_000), receiver.waitForOutput(/"listening"/, 10_000)]);
  });

  after(async () => {
    await reader?.stop('SIGTERM', 2000);
    await receiver?.stop('SIGTERM', 2000);
    await lab?.destroy();
  });

  it('gives each datagram its verdict: accepted, dropped, accepted with a mark, replaced; a throwing reader still lets it through', async () => {
    const l = lab;
    assert.ok(l);
    const payloads = [...numbers('accept', 3), ...numbers('drop', 3, 3), ...numbers('mark', 3, 6), ...numbers('replace', 2, 9), ...numbers('throw', 1, 11)];
    await l.mustExec('a', [process.execPath, '-e', sender(l.address('b', 4), payloads)]);
    const expected = [...numbers('accept', 3), ...numbers('mark', 3, 6), ...numbers('REPLACE', 2, 9), ...numbers('throw', 1, 11)];
    await until(() => lines<string>(receiver, 'got').length >= expected.length, 10_000, 'the datagrams that pass');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual([...lines<string>(receiver, 'got')].sort(), expected.sort());
    assert.equal((await marked.read())[4], 3);
    assert.ok(lines<string>(reader, 'error').some((e) => e.includes('reader threw on throw-11')), reader.stdout);
  });

  it('hands the datagrams that waited while the reader was busy over in one batch, and lets each through', async () => {
    const l = lab;
    assert.ok(l);
    const before = lines<number>(reader, 'batch').length;
    const payloads = ['slow-00', ...numbers('late', 20, 1)];
    const got = lines<string>(receiver, 'got').length;
    await l.mustExec('a', [process.execPath, '-e', sender(l.address('b', 4), payloads)]);
    await until(() => lines<string>(receiver, 'got').length >= got + payloads.length, 10_000, 'every datagram');
    const batches = lines<number>(reader, 'batch').slice(before);
    assert.equal(batches.reduce((a, b) => a + b, 0), payloads.length, reader.stdout);
    assert.ok(batches.some((n) => n >= 10), `no batch of the datagrams that waited: ${JSON.stringify(batches)}`);
    assert.deepEqual(lines<string>(receiver, 'got').slice(got).sort(), payloads.sort());
  });
});
