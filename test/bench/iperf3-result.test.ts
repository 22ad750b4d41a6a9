import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseIperf3Json } from '../../bench/iperf3-result.js';
import { startLab } from '../../src/lab/lab.js';
import type { RunningLab } from '../../src/lab/running-lab.js';
import { needsRoot } from '../support/root.js';

// The parts bench/trace reads of `iperf3 -c 10.0.1.2 -t 1 -J` (iperf 3.12) between two lab namespaces.
const REAL = JSON.stringify({
  start: { tcp_mss_default: 1448 },
  end: {
    sum_sent: { start: 0, end: 1.000147, seconds: 1.000147, bytes: 2599419904, bits_per_second: 20792302763.493767, retransmits: 47, sender: true },
    sum_received: { start: 0, end: 1.000595, seconds: 1.000595, bytes: 2594045952, bits_per_second: 20740027299.756645, sender: true },
  },
});

describe('iperf3 JSON', () => {
  it('gives the receiver\'s throughput, bytes and seconds, the sender\'s rate and retransmissions, and the MSS', () => {
    assert.deepEqual(parseIperf3Json(REAL), {
      ok: true,
      value: {
        receivedBitsPerSecond: 20740027299.756645,
        receivedBytes: 2594045952,
        seconds: 1.000595,
        sentBitsPerSecond: 20792302763.493767,
        retransmits: 47,
        mss: 1448,
      },
    });
  });

  it('is an error naming iperf3\'s own message when it could not run the test (it may still exit 0)', () => {
    const refused = '{\n\t"start":\t{\n\t\t"connected":\t[]\n\t},\n\t"intervals":\t[],\n\t"end":\t{\n\t},\n\t"error":\t"unable to connect to server: Connection refused"\n}\n';
    assert.deepEqual(parseIperf3Json(refused), { ok: false, error: 'iperf3: unable to connect to server: Connection refused' });
  });

  it('is an error, never an exception, for output that is not the JSON of a TCP test', () => {
    const cases: [string, RegExp][] = [
      ['', /printed no JSON/],
      ['{"end":', /printed no JSON/],
      ['[1,2]', /not an object/],
      ['null', /not an object/],
      ['{}', /no "end" object/],
      ['{"end":{"sum":{"bits_per_second":1}}}', /no end.sum_received or end.sum_sent/],
      ['{"end":{"sum_sent":{"bits_per_second":1},"sum_received":{"bits_per_second":"fast","bytes":1,"seconds":1}}}', /lacks a number/],
      ['{"end":{"sum_sent":{"bits_per_second":1},"sum_received":{"bits_per_second":1,"bytes":1,"seconds":0}}}', /impossible figures: 1 bytes in 0 s/],
      ['{"end":{"sum_sent":{"bits_per_second":1},"sum_received":{"bits_per_second":-1,"bytes":1,"seconds":1}}}', /impossible figures/],
    ];
    for (const [text, error] of cases) {
      const r = parseIperf3Json(text);
      assert.equal(r.ok, false, text);
      if (!r.ok) assert.match(r.error, error, text);
    }
  });

  it('leaves retransmissions and the MSS undefined when iperf3 does not give them', () => {
    const r = parseIperf3Json('{"end":{"sum_sent":{"bits_per_second":8},"sum_received":{"bits_per_second":8,"bytes":1,"seconds":1}}}');
    assert.deepEqual(r, { ok: true, value: { receivedBitsPerSecond: 8, receivedBytes: 1, seconds: 1, sentBitsPerSecond: 8, retransmits: undefined, mss: undefined } });
  });
});

describe('iperf3 JSON from a real run between two lab namespaces', needsRoot('for network namespaces'), () => {
  let lab: RunningLab;
  before(async () => {
    lab = await startLab({
      name: 'iperf3-json',
      nodes: [
        { name: 'cli', kind: 'host' },
        { name: 'srv', kind: 'host' },
      ],
      links: [{ endpoints: [{ node: 'cli', ifname: 'eth1' }, { node: 'srv', ifname: 'eth1' }] }],
    });
  });
  after(async () => {
    await lab.destroy();
  });

  it('parses, and its rate is its bytes over its seconds; a port nobody serves is an error', async () => {
    const server = lab.spawn('srv', ['iperf3', '-s', '-p', '5201', '--forceflush']);
    try {
      await server.waitForOutput(/Server listening/, 10_000);
      const r = await lab.exec('cli', ['iperf3', '-c', lab.address('srv', 4), '-p', '5201', '-t', '1', '-J'], { timeoutMs: 20_000 });
      const parsed = parseIperf3Json(r.stdout);
      assert.equal(parsed.ok, true, r.stdout.slice(-500));
      if (!parsed.ok) return;
      const v = parsed.value;
      assert.ok(v.receivedBytes > 0);
      assert.ok(Math.abs(v.seconds - 1) < 0.2, `ran ${v.seconds} s`);
      assert.ok(Math.abs((v.receivedBytes * 8) / v.seconds / v.receivedBitsPerSecond - 1) < 1e-6);
      assert.equal(v.mss, 1448);
      const refused = await lab.exec('cli', ['iperf3', '-c', lab.address('srv', 4), '-p', '5202', '-t', '1', '-J'], { timeoutMs: 20_000 });
      assert.deepEqual(parseIperf3Json(refused.stdout), { ok: false, error: 'iperf3: unable to connect to server: Connection refused' });
    } finally {
      await server.stop('SIGTERM', 2000);
    }
  });
});
