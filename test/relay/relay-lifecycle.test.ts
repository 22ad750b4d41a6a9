/**
 * What the relay leaves on its host: its mangle chains (MTUSCOPE-RELAY-*), its `ip rule`s (preferences 7360-7486) and
 * its routing tables (7360-7486) are there while it runs and gone after SIGTERM and SIGINT; after SIGKILL they stay
 * until the next relay replaces them or `mtuscope relay --cleanup` removes them; a second relay in the same network
 * namespace refuses to start and leaves the first one's rules alone. The kernel steering's BPF program goes with the
 * process whatever ends it (its tcx links are the process's). Read from the kernel (iptables -S, ip rule,
 * ip route show table all) in the router's namespace.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunningLab } from '../../src/lab/running-lab.js';
import { CLI } from '../support/cli.js';
import { needsRoot } from '../support/root.js';
import { ANYCAST, attachedPrograms, hostListings, programLoaded, RELAY_TABLES_TEXT, relayLeftovers, RelayRun, withRelayLab } from './relay-lab.js';

const ARGS = ['--served', ANYCAST[4], '--served', ANYCAST[6]];

async function leftovers(lab: RunningLab): Promise<string[]> {
  return relayLeftovers(await hostListings(lab, 'r'));
}

/** What a running owner-mode relay with two next hops per family installs: three chains per family, routes for four peers. */
function assertInstalled(left: readonly string[], when: string): void {
  const has = (re: RegExp): number => left.filter((l) => re.test(l)).length;
  assert.equal(has(/^-N MTUSCOPE-RELAY-(PRE|POST)$/), 4, `${when}: PRE and POST chains in both families: ${left.join('\n')}`);
  assert.equal(has(/^\d+:\s/), 4, `${when}: one ip rule per next hop`);
  assert.equal(has(/\btable 73\d\d\b/), 4, `${when}: one routing table per next hop (${RELAY_TABLES_TEXT})`);
}

/** The kernel steering's program of a running relay: attached (on r's three interfaces, one program) and loaded. */
function steering(relay: RelayRun): number[] {
  assert.equal(relay.started.steering?.inKernel, true, JSON.stringify(relay.started.steering));
  const programs = attachedPrograms(relay.pid);
  assert.equal(programs.length, 1, `the relay holds tcx links of one program: ${programs.join(', ')}`);
  assert.ok(programs.every(programLoaded));
  return programs;
}

describe('mtuscope relay leaves nothing behind', needsRoot('for network namespaces, iptables and policy routes'), () => {
  it('removes its rules and routes on SIGTERM and on SIGINT, printing its summary and exiting 0', { timeout: 60_000 }, async (t) => {
    await withRelayLab('relay-signals', {}, async (lab) => {
      assert.deepEqual(await leftovers(lab), [], 'a new lab has nothing of a relay');
      for (const signal of ['SIGTERM', 'SIGINT'] as const) {
        const relay = await RelayRun.start(lab, 'r', ARGS);
        assertInstalled(await leftovers(lab), `running, before ${signal}`);
        const programs = steering(relay);
        const exit = await relay.stop(signal);
        t.diagnostic(`${signal}: exit ${exit.code}, summary ${JSON.stringify(exit.summary)}`);
        assert.equal(exit.code, 0, relay.process.stderr);
        assert.equal(exit.signal, null);
        assert.ok(exit.summary !== undefined, `${signal}: the summary line was printed`);
        assert.deepEqual(await leftovers(lab), [], `after ${signal}`);
        assert.deepEqual(programs.filter(programLoaded), [], `after ${signal}: the kernel steering's program is unloaded`);
      }
    });
  });

  it('leaves its rules after SIGKILL until a new relay replaces them or --cleanup removes them', { timeout: 60_000 }, async (t) => {
    await withRelayLab('relay-sigkill', {}, async (lab) => {
      const killed = await RelayRun.start(lab, 'r', ARGS);
      assert.equal(killed.started.replacedStale, false);
      const programs = steering(killed);
      const exit = await killed.stop('SIGKILL');
      assert.equal(exit.signal, 'SIGKILL');
      assert.equal(exit.summary, undefined, 'a killed relay prints no summary');
      assertInstalled(await leftovers(lab), 'after SIGKILL');
      // Its links were the process's: the kernel detached the program and freed it with the process, at once.
      assert.deepEqual(programs.filter(programLoaded), [], 'after SIGKILL: the kernel steering\'s program is unloaded');

      const next = await RelayRun.start(lab, 'r', ARGS);
      assert.equal(next.started.replacedStale, true, 'the new relay says it replaced a dead one\'s rules');
      const installed = await leftovers(lab);
      assertInstalled(installed, 'the replacement running');
      assert.ok(installed.some((l) => l.includes(`pid=${next.pid} `)), 'the rules are the new relay\'s');
      assert.ok(!installed.some((l) => l.includes(`pid=${killed.pid} `)), 'none of the killed relay\'s is left');
      assert.equal((await next.stop('SIGTERM')).code, 0);
      assert.deepEqual(await leftovers(lab), [], 'after the replacement\'s SIGTERM');

      const again = await RelayRun.start(lab, 'r', ARGS);
      await again.stop('SIGKILL');
      assertInstalled(await leftovers(lab), 'after the second SIGKILL');
      const cleanup = await lab.exec('r', [process.execPath, CLI, 'relay', '--cleanup'], { timeoutMs: 30_000 });
      t.diagnostic(`--cleanup: exit ${cleanup.code}, "${cleanup.stdout.trim()}"`);
      assert.equal(cleanup.code, 0, cleanup.stderr);
      assert.match(cleanup.stdout, /^removed the rules and routes of a relay that no longer runs$/m);
      assert.deepEqual(await leftovers(lab), [], 'after --cleanup');
      const nothing = await lab.exec('r', [process.execPath, CLI, 'relay', '--cleanup'], { timeoutMs: 30_000 });
      assert.equal(nothing.code, 0, nothing.stderr);
      assert.match(nothing.stdout, /^nothing to remove$/m);
    });
  });

  it('refuses a second relay in the same namespace with exit 1, naming the running one, and leaves its rules intact', { timeout: 60_000 }, async (t) => {
    await withRelayLab('relay-second', {}, async (lab) => {
      const first = await RelayRun.start(lab, 'r', ARGS);
      const before = await hostListings(lab, 'r');
      const second = await lab.exec('r', [process.execPath, CLI, 'relay', '--json', ...ARGS], { timeoutMs: 30_000 });
      t.diagnostic(`second relay: exit ${second.code}, stderr "${second.stderr.trim()}"`);
      assert.equal(second.code, 1);
      assert.match(second.stderr, new RegExp(`another mtuscope relay \\(pid ${first.pid}\\) runs in this network namespace`));
      assert.doesNotMatch(second.stdout, /"event":"started"/);
      assert.deepEqual(await hostListings(lab, 'r'), before, 'the first relay\'s rules and routes are as they were');
      assert.ok(first.process.running);
      const cleanup = await lab.exec('r', [process.execPath, CLI, 'relay', '--cleanup'], { timeoutMs: 30_000 });
      assert.equal(cleanup.code, 1, '--cleanup does not touch a running relay\'s rules either');
      assert.deepEqual(await hostListings(lab, 'r'), before);
      assert.equal((await first.stop('SIGTERM')).code, 0);
      assert.deepEqual(await leftovers(lab), []);
    });
  });
});
