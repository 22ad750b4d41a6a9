/**
 * Ground truth from real kernels: the encapsulating load balancer of src/lab/scenarios/encap-lb.ts (lb wraps the
 * client's packets in VXLAN toward the server over a 1500-byte underlay, with a tunnel MTU of 1500 and the outer DF
 * set) captured with tcpdump while the scenario's traffic runs, and its healthy variant (tunnel MTU 1450).
 *
 * What the kernel does decides where the evidence is: lb's ip_fragment refuses the 1550-byte outer packets before
 * they reach the underlay and sends the "fragmentation needed" to the outer source, lb itself, over lo. So the
 * evidence is in lb's `any` capture (the messages on lo, the client's 1500-byte packets arriving on eth1), and the
 * underlay captures on both ends hold only the outer packets that fit: there the analyzer has nothing to say about
 * encapsulation, and says nothing.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Analyzer } from '../../src/analyze/analyzer.js';
import { defaultParts } from '../../src/analyze/default-parts.js';
import type { Finding } from '../../src/analyze/finding.js';
import { readCaptureBatches, readCaptureFile } from '../../src/capture/reader.js';
import { makeEncapCaptures } from '../support/encap-captures.js';
import type { KernelCapture } from '../support/kernel-captures.js';
import { needsRoot } from '../support/root.js';
import { tsharkFields } from '../support/tshark.js';
import { assertSameFacts } from './support/same-facts.js';

async function analyse(path: string): Promise<Finding[]> {
  const a = new Analyzer(defaultParts());
  for await (const batch of readCaptureBatches(path)) for (const p of batch) a.push(p);
  return a.report(true).findings.filter((f) => f.kind === 'encap-overhead' || f.kind === 'ptb-to-tunnel-endpoint');
}

function capture(captures: readonly KernelCapture[], name: string): string {
  const c = captures.find((x) => x.name === name);
  assert.ok(c, `no capture ${name}`);
  return c.path;
}

describe('encapsulation findings on captures of the encap-lb lab', needsRoot(), () => {
  let dir = '';
  let broken: KernelCapture[] = [];
  let healthy: KernelCapture[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mtuscope-encap-'));
    broken = await makeEncapCaptures(dir);
    const okDir = await mkdtemp(join(dir, 'ok-'));
    healthy = await makeEncapCaptures(okDir, { healthy: true });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("names the VXLAN overhead and the sizes on lb's capture, and the Packet Too Big its own kernel kept from the client", async () => {
    const path = capture(broken, 'lb-any');
    const findings = await analyse(path);
    const overhead = findings.filter((f) => f.kind === 'encap-overhead');
    assert.equal(overhead.length, 1, JSON.stringify(findings, null, 1));
    const [o] = overhead;
    assert.equal(o!.severity, 'error');
    assert.match(o!.sentence, /from the tunnel endpoint 10\.0\.2\.1 itself .* quote VXLAN packets 10\.0\.2\.1 → 10\.0\.2\.2: inner 1500 \+ VXLAN overhead 50 = 1550 bytes, larger than the path's 1500 \(the MTU the "fragmentation needed" reports\)/);
    // The frames are those tshark shows as "fragmentation needed" quoting a VXLAN packet.
    const rows = await tsharkFields(path, ['frame.number'], { displayFilter: 'icmp.type == 3 && icmp.code == 4 && vxlan' });
    const tshark = rows.map((r) => Number(r['frame.number']));
    assert.equal(o!.facts['packetTooBig'], tshark.length);
    assert.deepEqual(o!.evidence.map((e) => e.frame), tshark.slice(0, o!.evidence.length));
    const endpoint = findings.filter((f) => f.kind === 'ptb-to-tunnel-endpoint');
    assert.equal(endpoint.length, 1);
    assert.equal(endpoint[0]!.severity, 'error');
    assert.match(endpoint[0]!.sentence, /went to the VXLAN tunnel endpoint 10\.0\.2\.1, not to 10\.0\.1\.\d+, the sender of the 1500-byte inner packet .*Not relayed/);
  });

  it('says nothing about encapsulation on the underlay, where only the outer packets that fit ever appear', async () => {
    for (const name of ['lb-underlay', 's-underlay', 'lb-client-side']) assert.deepEqual(await analyse(capture(broken, name)), [], name);
  });

  it('reads the same facts through the fast path as through the decoder, for every packet of every capture', async () => {
    let fast = 0;
    let all = 0;
    for (const c of [...broken, ...healthy]) {
      const packets = await readCaptureFile(c.path);
      packets.forEach((p, i) => {
        if (assertSameFacts(p, i + 1, { linkMtu: 1500 })) fast++;
      });
      all += packets.length;
    }
    assert.ok(fast > all / 2, `fast path answered ${fast} of ${all} packets`);
  });

  it('reports nothing on any capture of the healthy variant (tunnel MTU 1450: every outer packet fits)', async () => {
    for (const c of healthy) assert.deepEqual(await analyse(c.path), [], c.name);
  });
});
