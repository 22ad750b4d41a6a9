import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FamilyReport } from '../../src/probe/probe-report.js';
import { mtuscope } from '../support/cli.js';
import { needsRoot } from '../support/root.js';
import { dropPacketTooBig, parseTracepath, probeFromH, type ProbeRun, tracepathFromH, withChain } from './probe-lab.js';

function family(run: ProbeRun): FamilyReport {
  const f = run.report?.families[0];
  assert.ok(f !== undefined, `no report: exit ${run.code} ${run.stderr} ${run.stdout}`);
  return f;
}

function codes(run: ProbeRun): string[] {
  return (run.report?.findings ?? []).filter((f) => f.problem).map((f) => f.code);
}

describe('mtuscope probe usage', () => {
  it('a wrong protocol, port, family or server test (a TARGET beside its URL, not http) is a usage error (exit 2); --help lists the options', async () => {
    for (const args of [['--protocol', 'sctp', '10.0.0.1'], ['--port', '70000', '10.0.0.1'], ['--family', 'ipv5', '10.0.0.1'], [], ['--server-port', '0', '10.0.0.1'], ['--server-test', 'http://10.0.0.1/', '10.0.0.1'], ['--server-test', 'ftp://10.0.0.1/x'], ['--server-test', 'http://10.0.0.1/', '--connections', '99']]) {
      const r = await mtuscope(['probe', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^mtuscope probe: /);
    }
    // Nothing is sent: the literal has no address of the family asked for.
    const wrongFamily = await mtuscope(['probe', '-6', '127.0.0.1']);
    assert.equal(wrongFamily.code, 1);
    assert.equal(wrongFamily.stderr, 'mtuscope probe: 127.0.0.1 has no IPv6 address\n');
    const help = await mtuscope(['probe', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--protocol udp\|icmp\|tcp/);
    assert.match(help.stdout, /--timeout SECONDS/);
  });

  it('reads tracepath output: hops, no reply, pmtu and resume', () => {
    const t = parseTracepath(' 1?: [LOCALHOST]  pmtu 1500\n 1:  10.0.1.2   0.031ms \n 3:  10.0.2.2  0.009ms pmtu 1400\n 4:  no reply\n 5:  10.0.5.2  0.010ms reached\n     Resume: pmtu 1400 hops 5 back 5 \n');
    assert.deepEqual(t.hops.map((h) => [h.hop, h.address, h.pmtu, h.reached]), [
      [1, '10.0.1.2', undefined, false],
      [3, '10.0.2.2', 1400, false],
      [4, undefined, undefined, false],
      [5, '10.0.5.2', undefined, true],
    ]);
    assert.equal(t.resumePmtu, 1400);
    assert.equal(t.resumeHops, 5);
  });
});

describe('mtuscope probe in labs', needsRoot(), () => {
  it('without CAP_NET_RAW (or CAP_NET_ADMIN for --server-test) it says what is missing and sends nothing, exit status 1', async () => {
    const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'];
    const probe = await mtuscope(['probe', '::1'], { prefix: nobody });
    assert.equal(probe.code, 1, probe.stderr);
    assert.equal(probe.stdout, '');
    assert.match(probe.stderr, /^mtuscope probe: needs root or CAP_NET_RAW to send probes through raw sockets \(missing: CAP_NET_RAW\)\n$/);
    const serverTest = await mtuscope(['probe', '--server-test', 'http://[::1]:9/'], { prefix: nobody });
    assert.equal(serverTest.code, 1, serverTest.stderr);
    assert.match(serverTest.stderr, /lacks CAP_NET_ADMIN and CAP_NET_RAW/);
    // As root the same check passes: every lab test of the prober and the server test runs so.
  });

  it('probes loopback, whose MTU of 65536 is more than an IPv4 packet can be: 65535 there, the full 65536 over IPv6', async () => {
    for (const [target, mtu, words] of [['127.0.0.1', 65535, /the largest an IPv4 packet can be \(the link's MTU is 65536\)/], ['::1', 65536, /the full size of this host's link/]] as const) {
      const r = await mtuscope(['probe', '--no-server', '--json', target]);
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout) as { families: FamilyReport[]; diagnosis: { text: string } };
      assert.equal(report.families[0]?.pathMtu, mtu, r.stdout);
      assert.match(report.diagnosis.text, words);
    }
  });

  it('a healthy path of 3 routers: exit 0, path MTU 1500 at hop 4 in both families, as tracepath says', async () => {
    await withChain({ name: 'probe-healthy', routers: 3 }, async (lab) => {
      for (const fam of [4, 6] as const) {
        const run = await probeFromH(lab, fam);
        const f = family(run);
        assert.equal(run.code, 0, run.stdout);
        assert.equal(f.pathMtu, 1500);
        assert.equal(f.destinationHop, 4);
        assert.deepEqual(f.hops.map((h) => h.address), [lab.address('r1', fam, 'eth1'), lab.address('r2', fam, 'eth1'), lab.address('r3', fam, 'eth1'), lab.address('d', fam)]);
        assert.equal(run.report?.diagnosis.problem, false);
        assert.match(run.report?.diagnosis.text ?? '', /^Healthy/);
        const t = await tracepathFromH(lab, fam, 6);
        assert.equal(t.resumePmtu, f.pathMtu);
        assert.equal(t.resumeHops, f.destinationHop);
      }
    });
  });

  it('smaller links after hop 1 and after hop 5 of 6 routers: each hop and MTU named; tracepath agrees on the MTUs, one line late', async () => {
    await withChain({ name: 'probe-ptb', routers: 6, linkMtu: { 1: 1480, 5: 1400 } }, async (lab) => {
      for (const fam of [4, 6] as const) {
        // tracepath first: the Packet Too Big messages of either run teach h's kernel the path MTU, and tracepath would
        // start from that cached value (its known defect); ours ignores the cache.
        const t = await tracepathFromH(lab, fam, 9);
        assert.equal(t.resumePmtu, 1400);
        const run = await probeFromH(lab, fam, ['--protocol', fam === 4 ? 'udp' : 'icmp']);
        const f = family(run);
        assert.equal(run.code, 0, run.stdout);
        assert.deepEqual(f.packetTooBig.map((p) => [p.hop, p.router, p.mtu]), [
          [1, lab.address('r1', fam, 'eth1'), 1480],
          [5, lab.address('r5', fam, 'eth1'), 1400],
        ]);
        assert.equal(f.hops[0]?.reportedMtu, 1480);
        assert.equal(f.hops[4]?.reportedMtu, 1400);
        assert.equal(f.pathMtu, 1400);
        assert.equal(f.cachedPathMtu, 1400, "tracepath's Packet Too Big left 1400 in h's cache, which the probes ignored");
        // tracepath prints each new pmtu on the line of the next TTL, beside the address of the router that reported it.
        const pmtuLines = t.hops.filter((h) => h.pmtu !== undefined).map((h) => [h.hop, h.address, h.pmtu]);
        assert.deepEqual(pmtuLines, [
          [2, lab.address('r1', fam, 'eth1'), 1480],
          [6, lab.address('r5', fam, 'eth1'), 1400],
        ]);
      }
    });
  });

  it('a router that drops its own Packet Too Big: a problem after its hop, path MTU found by search; tracepath prints "no reply" and a wrong 1500', async () => {
    await withChain({ name: 'probe-own', routers: 4, linkMtu: { 2: 1400 } }, async (lab) => {
      await dropPacketTooBig(lab, 'r2', 'OUTPUT');
      const run = await probeFromH(lab, 4);
      const f = family(run);
      assert.equal(run.code, 1);
      assert.deepEqual(codes(run), ['ptb-missing']);
      assert.deepEqual(f.blackHoles.map((b) => [b.size, b.afterHop, b.beforeHop, b.fragmentedCopyPassed]), [[1500, 2, 3, true]]);
      assert.equal(f.pathMtu, 1400);
      assert.equal(f.pathMtuFrom, 'search');
      assert.equal(run.report?.findings[0]?.where?.address, lab.address('r2', 4, 'eth1'));
      const t = await tracepathFromH(lab, 4, 5);
      assert.equal(t.resumePmtu, 1500);
      assert.ok(t.hops.some((h) => h.hop === 3 && h.address === undefined), t.output);
    });
  });

  it('one search probe of a size that fits lost once on the way (a queue drop): the exact path MTU all the same, and the loss named as not reproduced', async () => {
    await withChain({ name: 'probe-loss', routers: 4, linkMtu: { 2: 1400 } }, async (lab) => {
      await dropPacketTooBig(lab, 'r2', 'OUTPUT');
      for (const fam of [4, 6] as const) {
        const clean = family(await probeFromH(lab, fam, ['--no-server', '--no-middlebox']));
        assert.equal(clean.pathMtu, 1400);
        // Not as expected: without a loss, none is reported.
        assert.equal(clean.search?.notReproduced, undefined);
        // A size the search sent and got through, above BASE_PLPMTU: r1 drops the first packet of that length it forwards.
        const size = clean.search?.probes.find((p) => p.answered && p.size > (clean.search?.basePlpmtu ?? 0))?.size;
        assert.ok(size !== undefined, JSON.stringify(clean.search?.probes));
        const tool = fam === 4 ? 'iptables' : 'ip6tables';
        const rule = ['FORWARD', '-i', 'eth1', '-m', 'length', '--length', String(size), '-m', 'quota', '--quota', String(size), '-j', 'DROP'];
        await lab.mustExec('r1', [tool, '-A', ...rule]);
        const run = await probeFromH(lab, fam, ['--no-server', '--no-middlebox']);
        const counters = await lab.mustExec('r1', [tool, '-L', 'FORWARD', '-v', '-x', '-n']);
        await lab.mustExec('r1', [tool, '-D', ...rule]);
        const f = family(run);
        const what = `IPv${fam}, ${size} bytes lost once: ${run.report?.diagnosis.text ?? run.stderr}`;
        assert.match(counters.stdout, /^\s*1\s+\d+\s+DROP/m, `the rule dropped exactly one packet: ${counters.stdout}`);
        assert.equal(run.code, 1, what);
        assert.equal(f.pathMtu, 1400, what);
        assert.deepEqual(f.blackHoles.map((b) => [b.size, b.afterHop, b.beforeHop]), [[1500, 2, 3]], what);
        assert.deepEqual(f.search?.notReproduced, [size], what);
        assert.deepEqual(codes(run), [fam === 4 ? 'ptb-missing' : 'black-hole'], what);
        assert.match(run.report?.findings.find((x) => x.code === 'loss-not-reproduced')?.sentence ?? '', new RegExp(`a ${size}-byte probe .* The path MTU 1400 stands: 1401-byte probes were lost twice`), what);
      }
    });
  });

  it('a router that drops forwarded Packet Too Big: the hop beyond it is named; its own Packet Too Big still arrives', async () => {
    await withChain({ name: 'probe-fwd', routers: 4, linkMtu: { 3: 1400 } }, async (lab) => {
      await dropPacketTooBig(lab, 'r1', 'FORWARD');
      const run = await probeFromH(lab, 4);
      assert.equal(run.code, 1);
      assert.deepEqual(codes(run), ['ptb-missing']);
      assert.deepEqual(family(run).blackHoles.map((b) => [b.afterHop, b.beforeHop]), [[3, 4]]);
      assert.match(run.report?.diagnosis.text ?? '', /drops the message on its way back/);
    });
    await withChain({ name: 'probe-fwd-own', routers: 3, linkMtu: { 1: 1400 } }, async (lab) => {
      await dropPacketTooBig(lab, 'r1', 'FORWARD');
      const run = await probeFromH(lab, 4);
      assert.equal(run.code, 0, run.stdout);
      assert.deepEqual(family(run).packetTooBig.map((p) => [p.hop, p.mtu]), [[1, 1400]]);
    });
  });

  it('a silent link-MTU mismatch is diagnosed as one (IPv4) and as a black hole that cannot be told apart (IPv6), with the hop', async () => {
    await withChain({ name: 'probe-mismatch', routers: 4, farEndMtu: { 2: 1400 } }, async (lab) => {
      const v4 = await probeFromH(lab, 4);
      assert.equal(v4.code, 1);
      assert.deepEqual(codes(v4), ['silent-mtu-mismatch']);
      assert.deepEqual(family(v4).blackHoles.map((b) => [b.afterHop, b.beforeHop, b.fragmentedCopyPassed]), [[2, 3, false]]);
      // veth accepts a frame up to its MTU plus a VLAN header's 4 bytes (is_skb_forwardable): 1404, as measured.
      assert.equal(family(v4).pathMtu, 1404);
      const v6 = await probeFromH(lab, 6, ['--protocol', 'tcp', '--port', '80']);
      assert.equal(v6.code, 1);
      assert.deepEqual(codes(v6), ['black-hole']);
      assert.deepEqual(family(v6).blackHoles.map((b) => [b.afterHop, b.beforeHop]), [[2, 3]]);
      assert.equal(family(v6).pathMtu, 1404);
    });
  });
});
