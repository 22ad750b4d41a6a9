import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { IpFamily } from '../../src/packet/ip-family.js';
import { startLab } from '../../src/lab/lab.js';
import type { RunningLab } from '../../src/lab/running-lab.js';
import { routeGet } from '../../src/lab/traffic/route-cache.js';
import type { ProbeFlow } from '../../src/probe/probe-packets.js';
import { needsRoot } from '../support/root.js';
import type { HarnessReply, HarnessRequest } from './transport-harness.js';

const HARNESS = fileURLToPath(new URL('./transport-harness.js', import.meta.url));

/** h -- r1 -- r2 -- d, every link 1500 bytes (r1-r2 is shrunk for a moment to teach h a smaller path MTU). */
async function withLab(fn: (lab: RunningLab) => Promise<void>): Promise<void> {
  const lab = await startLab({
    name: 'probe-transport',
    nodes: [
      { name: 'h', kind: 'host' },
      { name: 'r1', kind: 'router', sysctls: { 'net.ipv4.icmp_ratelimit': '0', 'net.ipv6.icmp.ratelimit': '0' } },
      { name: 'r2', kind: 'router', sysctls: { 'net.ipv4.icmp_ratelimit': '0', 'net.ipv6.icmp.ratelimit': '0' } },
      { name: 'd', kind: 'host' },
    ],
    links: [
      { endpoints: [{ node: 'h', ifname: 'eth1' }, { node: 'r1', ifname: 'eth1' }] },
      { endpoints: [{ node: 'r1', ifname: 'eth2' }, { node: 'r2', ifname: 'eth1' }] },
      { endpoints: [{ node: 'r2', ifname: 'eth2' }, { node: 'd', ifname: 'eth1' }] },
    ],
  });
  try {
    await fn(lab);
  } finally {
    await lab.destroy();
  }
}

async function harness(lab: RunningLab, request: HarnessRequest): Promise<HarnessReply> {
  const r = await lab.mustExec('h', [process.execPath, HARNESS, JSON.stringify(request)]);
  return JSON.parse(r.stdout) as HarnessReply;
}

/** Teaches h's kernel a 1400-byte path MTU toward d (a real Packet Too Big from r1), then gives the link its 1500 back. */
async function pollutePathMtuCache(lab: RunningLab, family: IpFamily, destination: string): Promise<void> {
  for (const [node, dev] of [['r1', 'eth2'], ['r2', 'eth1']] as const) await lab.mustExec(node, ['ip', 'link', 'set', 'dev', dev, 'mtu', '1400']);
  const payload = family === 4 ? 1472 : 1452;
  await lab.exec('h', ['ping', `-${family}`, '-M', 'do', '-s', String(payload), '-c', '1', '-W', '1', destination]);
  for (const [node, dev] of [['r1', 'eth2'], ['r2', 'eth1']] as const) await lab.mustExec(node, ['ip', 'link', 'set', 'dev', dev, 'mtu', '1500']);
  const cached = await routeGet(lab, 'h', destination);
  assert.equal(cached.mtu, 1400, `h's kernel should have cached 1400 toward ${destination}: ${cached.route}`);
}

describe('probe transport', needsRoot(), () => {
  it('a full-size probe leaves whole although the kernel cached a smaller path MTU, and does not without PMTUDISC_PROBE', async () => {
    await withLab(async (lab) => {
      for (const family of [4, 6] as const) {
        const destination = lab.address('d', family);
        const flow: ProbeFlow = { family, protocol: 'udp', source: lab.address('h', family), destination, srcPort: 45000, dstPort: 33434, echoIdent: 1 };
        await pollutePathMtuCache(lab, family, destination);
        const probes = [{ id: 1, size: 1500, ttl: 64 }];
        const withOption = await harness(lab, { flow, probes, waitMs: 300 });
        assert.deepEqual(withOption.sendErrors, [], `IPv${family}`);
        const reached = withOption.replies.filter((r) => r.kind === 'unreachable' && r.reason === 'port' && r.from === destination);
        assert.equal(reached.length, 1, `IPv${family}: ${JSON.stringify(withOption)}`);
        // The same probe with the kernel's default mode: the cached 1400 applies and the 1500-byte probe never
        // reaches d whole (refused, or answered by h's own kernel with a Packet Too Big).
        const without = await harness(lab, { flow: { ...flow, srcPort: 45001 }, probes, waitMs: 300, honourCachedPathMtu: true });
        assert.match(without.sendErrors.join(), /Message too long/, `IPv${family}`);
        const reachedWithout = without.replies.filter((r) => r.kind === 'unreachable' && r.reason === 'port' && r.from === destination);
        assert.equal(reachedWithout.length, 0, `IPv${family} without the option: ${JSON.stringify(without)}`);
      }
    });
  });

  it('receives Time Exceeded from each router with its TTL, and TCP answers from the destination', async () => {
    await withLab(async (lab) => {
      for (const family of [4, 6] as const) {
        const destination = lab.address('d', family);
        const flow: ProbeFlow = { family, protocol: 'tcp', source: lab.address('h', family), destination, srcPort: 45002, dstPort: 80, echoIdent: 1 };
        const probes = [1, 2, 3].map((ttl) => ({ id: ttl, size: 200, ttl }));
        const out = await harness(lab, { flow, probes, waitMs: 300 });
        const byId = new Map(out.replies.map((r) => [r.probeId, r]));
        assert.equal(byId.get(1)?.kind, 'time-exceeded');
        assert.equal(byId.get(1)?.from, lab.address('r1', family, 'eth1'));
        assert.equal(byId.get(2)?.from, lab.address('r2', family, 'eth1'));
        const last = byId.get(3);
        assert.ok(last?.kind === 'tcp-reply' && last.flags === 'rst', JSON.stringify(out));
        if (family === 4) assert.equal(byId.get(1)?.replyTtl, 64);
      }
    });
  });
});
