import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_ENGINE_SETTINGS } from '../../src/engine/engine-settings.js';
import type { LabProcess } from '../../src/lab/running-lab.js';
import { type CheckerLab, startCheckerLab } from '../support/checker-lab.js';
import { needsRoot } from '../support/root.js';

const WINDOW_MS = DEFAULT_ENGINE_SETTINGS.icmpWindowMs;

/**
 * ICMP is dropped on the path, but the client has net.ipv4.tcp_mtu_probing=1 (black-hole detection; the sysctl
 * covers IPv6 too). Measured on this kernel: IPv6 recovers at the 4th retransmission timeout (tcp_base_mss 1024 gives
 * 1096-byte packets, under 1280), about 3.1 s after the first loss; IPv4 only at the 6th, about 13.1 s (1076-byte
 * packets are still over 905; the next timeout halves the MSS to 512), after the default 10 s window. That packet is
 * the client's first after the window, which still counts as its reaction: both families get pass-probing with the
 * default settings, and the answer comes with the client's upload, before the window plus RETRANSMISSION_GRACE_MS.
 */
describe('checker service: a client whose own MTU probing rescues it', needsRoot(), () => {
  let c: CheckerLab;
  let serve: LabProcess;

  before(async () => {
    c = await startCheckerLab({
      name: 'chk-probing',
      router: { dropPacketTooBig: true },
      clients: [{ name: 'probing', sysctls: { 'net.ipv4.tcp_mtu_probing': '1' } }],
    });
    serve = await c.serve();
  });
  after(async () => {
    await serve?.stop('SIGTERM');
    await c?.destroy();
  });

  it('pass-probing for both families, seconds after the first Packet Too Big', async () => {
    const [v4, v6] = await Promise.all([c.icmpJson('probing', 4), c.icmpJson('probing', 6)]);
    for (const { result, ms } of [v4, v6]) {
      const e = result.evidence;
      assert.equal(result.verdict, 'pass-probing', JSON.stringify(e));
      assert.ok(e.reactionMs !== null && e.reactionMs > 2000 && e.reactionMs < WINDOW_MS + 5000, JSON.stringify(e));
      assert.ok(ms < WINDOW_MS + 5000, `verdict after ${ms} ms`);
      assert.ok(e.packetTooBigSent > 1 && e.retransmissions > 1, JSON.stringify(e));
      assert.match(result.explanation, /MTU probing \(RFC 4821\)/);
    }
  });
});
