import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LabProcess } from '../../src/lab/running-lab.js';
import { type CheckerLab, startCheckerLab } from '../support/checker-lab.js';
import { needsRoot } from '../support/root.js';

/** Extra addresses of client a's own /64 and /24 (its link's subnets), one request from each. */
const EXTRA_HOSTS = [0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16];

/**
 * Per-client limits against real clients: an IPv6 client is its /64 (a host picks any address of it), an IPv4 client
 * its address. `--tests-per-client 1` gives each client a burst of 6 tests
 * (the page's six).
 */
describe('checker service: who counts as one client', needsRoot(), () => {
  let c: CheckerLab;
  const sixes: string[] = [];
  const fours: string[] = [];

  before(async () => {
    c = await startCheckerLab({ name: 'chk-prefix', clients: [{ name: 'a' }, { name: 'b' }] });
    const base6 = c.lab.address('a', 6).replace(/::[0-9a-f]+$/, '::');
    const base4 = c.lab.address('a', 4).replace(/\.\d+$/, '.');
    for (const host of EXTRA_HOSTS) {
      sixes.push(`${base6}${host.toString(16)}`);
      fours.push(`${base4}${host}`);
      await c.lab.mustExec('a', ['ip', 'addr', 'add', `${base6}${host.toString(16)}/64`, 'dev', 'eth1', 'nodad']);
      await c.lab.mustExec('a', ['ip', 'addr', 'add', `${base4}${host}/24`, 'dev', 'eth1']);
    }
  });
  after(async () => {
    await c?.destroy();
  });

  const frag = async (client: string, family: 4 | 6, from: string): Promise<string> =>
    (await c.curl(client, ['-w', '\n%{http_code}', '--interface', from, c.url(family, '/frag')])).stdout;

  it('IPv6: seven addresses of one /64 share one budget (the seventh gets 429); another /64 has its own', async () => {
    let serve: LabProcess | undefined;
    try {
      serve = await c.serve(['--tests-per-client', '1']);
      for (const from of sixes.slice(0, 6)) assert.match(await frag('a', 6, from), /RESULT: pass\n\n200$/, from);
      const seventh = await frag('a', 6, sixes[6]!);
      assert.match(seventh, /too many tests from your address \(an IPv6 client counts as its whole \/64\).*\n429$/s);
      assert.match(await frag('b', 6, c.lab.address('b', 6)), /RESULT: pass\n\n200$/, 'client b, another /64');
      // IPv4: each address is a client of its own.
      for (let i = 0; i < 6; i++) assert.match(await frag('a', 4, fours[0]!), /RESULT: pass\n\n200$/);
      assert.match(await frag('a', 4, fours[0]!), /\n429$/);
      assert.match(await frag('a', 4, fours[1]!), /RESULT: pass\n\n200$/, 'another address of the same /24');
    } finally {
      await serve?.stop('SIGTERM');
    }
  });

  it('--ipv6-client-prefix 128 counts every IPv6 address on its own', async () => {
    let serve: LabProcess | undefined;
    try {
      serve = await c.serve(['--tests-per-client', '1', '--ipv6-client-prefix', '128'], 'prefix128.sqlite');
      for (const from of sixes) assert.match(await frag('a', 6, from), /RESULT: pass\n\n200$/, from);
    } finally {
      await serve?.stop('SIGTERM');
    }
  });
});
