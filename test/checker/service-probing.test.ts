import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LabProcess } from '../../src/lab/running-lab.js';
import { type CheckerLab, startCheckerLab } from '../support/checker-lab.js';
import { needsRoot } from '../support/root.js';

const WINDOW_S = 20;

/**
 * ICMP is dropped on the path, but the client has net.ipv4.tcp_mtu_probing=1 (black-hole detection; the sysctl
 * covers IPv6 too). Linux turns probing on at the first retransmission timeout that comes 3 s (tcp_retries1 = 3
 * backed-off RTOs of 200 ms) after the first retransmission, and then limits its packets to tcp_base_mss (1024)
 * plus headers: 1096 bytes for IPv6, which fits under 1280, so IPv6 recovers after one step (about 3 or 6 s).
 * For IPv4 that is 1076 bytes, still over 905: only the next timeout halves the MSS to 512 (564-byte packets), about
 * 6 or 12.6 s after the first loss, which can be after the default 10 s window (then the verdict is blackhole).
 * This test gives the window 20 s so that both families show what the kernel does: pass-probing.
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
    serve = await c.serve(['--window', String(WINDOW_S)]);
  });
  after(async () => {
    await serve?.stop('SIGTERM');
    await c?.destroy();
  });

  it('pass-probing for both families, seconds after the first Packet Too Big', async () => {
    const [v4, v6] = await Promise.all([c.icmpJson('probing', 4), c.icmpJson('probing', 6)]);
    for (const { result } of [v4, v6]) {
      const e = result.evidence;
      assert.equal(result.verdict, 'pass-probing', JSON.stringify(e));
      assert.ok(e.reactionMs !== null && e.reactionMs > 2000 && e.reactionMs < WINDOW_S * 1000, JSON.stringify(e));
      assert.ok(e.packetTooBigSent > 1 && e.retransmissions > 1, JSON.stringify(e));
      assert.match(result.explanation, /MTU probing \(RFC 4821\)/);
    }
  });
});
