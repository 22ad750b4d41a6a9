/**
 * mtuscope probe on labs whose nodes keep the kernel's ICMP rate limits, as real hosts and routers do (Linux:
 * Time Exceeded and Destination Unreachable once per net.ipv4.icmp_ratelimit = 1000 ms per peer after a burst of 6;
 * ICMPv6 errors once per net.ipv6.icmp.ratelimit, 100 ms on this kernel; Packet Too Big, echo replies and resets not
 * limited). The other lab tests turn the limits off on every node.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunningLab } from '../../src/lab/running-lab.js';
import type { FamilyReport } from '../../src/probe/probe-report.js';
import { needsRoot } from '../support/root.js';
import { dropPacketTooBig, probeFromH, type ProbeRun, withChain } from './probe-lab.js';

const PROTOCOLS = ['udp', 'icmp', 'tcp'] as const;
const FAMILIES = [4, 6] as const;
/** The trace only: the parts after it (middlebox detection, the cooperating server) are tested elsewhere. */
const ARGS = ['--no-server', '--no-middlebox'];

function family(run: ProbeRun): FamilyReport {
  const f = run.report?.families[0];
  assert.ok(f !== undefined, `no report: exit ${run.code} ${run.stderr} ${run.stdout}`);
  return f;
}

function problems(run: ProbeRun): string[] {
  return (run.report?.findings ?? []).filter((f) => f.problem).map((f) => f.code);
}

function args(protocol: string): string[] {
  return ['--protocol', protocol, ...(protocol === 'tcp' ? ['--port', '80'] : []), ...ARGS];
}

async function setRateLimits(lab: RunningLab, nodes: readonly string[], value: string): Promise<void> {
  for (const node of nodes) await lab.mustExec(node, ['sysctl', '-q', '-w', `net.ipv4.icmp_ratelimit=${value}`, `net.ipv6.icmp.ratelimit=${value}`]);
}

describe('mtuscope probe with the kernel\'s default ICMP rate limits on every node', needsRoot(), () => {
  it('a healthy path of 1 and of 3 routers: a healthy report with path MTU 1500 at the right hop, for UDP, ICMP and TCP probes, both families', async () => {
    for (const routers of [1, 3]) {
      await withChain({ name: `rl-healthy${routers}`, routers, rateLimits: 'default' }, async (lab) => {
        for (const fam of FAMILIES) {
          for (const protocol of PROTOCOLS) {
            const run = await probeFromH(lab, fam, args(protocol));
            const f = family(run);
            const what = `${protocol} IPv${fam}, ${routers} routers: ${run.report?.diagnosis.text ?? run.stderr}`;
            assert.equal(run.code, 0, what);
            assert.match(run.report?.diagnosis.text ?? '', /^Healthy/, what);
            assert.equal(f.destinationHop, routers + 1, what);
            assert.equal(f.pathMtu, 1500, what);
            assert.deepEqual(f.blackHoles, [], what);
          }
        }
      });
    }
  });

  it('a router that drops its own Packet Too Big before a 1400-byte link: the one black hole after its hop and path MTU 1400, for UDP, ICMP and TCP, both families; cost against rate limits off', async () => {
    // The owner's lab: h, r1, r2 (drops its own Packet Too Big), a 1400-byte link r2-r3, r3, d.
    await withChain({ name: 'rl-hole', routers: 3, linkMtu: { 2: 1400 }, rateLimits: 'default' }, async (lab) => {
      await dropPacketTooBig(lab, 'r2', 'OUTPUT');
      const figures: string[] = [];
      const nodes = ['h', 'r1', 'r2', 'r3', 'd'];
      for (const limits of ['default', 'off'] as const) {
        if (limits === 'off') await setRateLimits(lab, nodes, '0');
        for (const fam of FAMILIES) {
          for (const protocol of PROTOCOLS) {
            const run = await probeFromH(lab, fam, args(protocol));
            const f = family(run);
            const what = `${protocol} IPv${fam}, rate limits ${limits}: ${run.report?.diagnosis.text ?? run.stderr}`;
            assert.equal(run.code, 1, what);
            assert.deepEqual(problems(run), [fam === 4 ? 'ptb-missing' : 'black-hole'], what);
            assert.deepEqual(f.blackHoles.map((b) => [b.size, b.afterHop, b.beforeHop]), [[1500, 2, 3]], what);
            assert.equal(f.pathMtu, 1400, what);
            assert.equal(f.pathMtuFrom, 'search', what);
            if (fam === 4) assert.equal(f.blackHoles[0]?.fragmentedCopyPassed, true, what);
            figures.push(`${limits.padEnd(8)} IPv${fam} ${protocol.padEnd(5)} probes ${String(f.probesSent).padStart(3)}  trace ${String(f.durationMs).padStart(6)} ms  run ${Math.round(run.ms)} ms`);
          }
        }
      }
      console.log(`rate limits  family protocol: probes sent, trace time, whole run\n${figures.join('\n')}`);
    });
  });

  it('large packets lost only on the way back: UDP and TCP probes (small answers) find the way there healthy; ICMP echo (answers as large as the probe) cannot tell the directions apart', async () => {
    // Why UDP stays the default: r2 drops packets above 1400 bytes that it forwards toward h, and nothing else.
    await withChain({ name: 'rl-back', routers: 3, rateLimits: 'default' }, async (lab) => {
      for (const tool of ['iptables', 'ip6tables']) await lab.mustExec('r2', [tool, '-A', 'FORWARD', '-i', 'eth2', '-o', 'eth1', '-m', 'length', '--length', '1401:65535', '-j', 'DROP']);
      for (const fam of FAMILIES) {
        for (const protocol of PROTOCOLS) {
          const run = await probeFromH(lab, fam, args(protocol));
          const f = family(run);
          const what = `${protocol} IPv${fam}: ${run.report?.diagnosis.text ?? run.stderr}`;
          if (protocol === 'icmp') {
            // The echo reply of a 1401-byte request is 1401 bytes on the way back: its loss looks like a black hole on the way there.
            assert.equal(run.code, 1, what);
            assert.equal(f.pathMtu, 1400, what);
            assert.deepEqual(f.blackHoles.map((b) => [b.afterHop, b.beforeHop]), [[3, 4]], what);
          } else {
            assert.equal(run.code, 0, what);
            assert.equal(f.pathMtu, 1500, what);
            assert.deepEqual(f.blackHoles, [], what);
          }
        }
      }
    });
  });
});
