import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parseInvocation } from '../../src/cli/command.js';
import { SERVE_OPTIONS, serveCommand, serveOptionsFrom } from '../../src/cli/serve-command.js';
import type { LabProcess } from '../../src/lab/running-lab.js';
import { type CheckerLab, startCheckerLab } from '../support/checker-lab.js';
import { CLI } from '../support/cli.js';
import { needsRoot } from '../support/root.js';

const run = promisify(execFile);
const UNIT_PATH = new URL('../../../examples/systemd/mtuscope.service', import.meta.url);

/** The [Service] section's settings of a unit file: key → values in order (a key may be given several times). */
function serviceSettings(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    assert.ok(!line.endsWith('\\'), `no continued lines: ${line}`);
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = header[1] ?? '';
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(eq > 0, `not a setting: ${line}`);
    if (section !== 'Service') continue;
    const key = line.slice(0, eq).trim();
    settings.set(key, [...(settings.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return settings;
}

const UNIT = readFileSync(UNIT_PATH, 'utf8');
const SETTINGS = serviceSettings(UNIT);

function one(key: string): string {
  const values = SETTINGS.get(key) ?? [];
  assert.equal(values.length, 1, `${key} is set once`);
  return values[0] ?? '';
}

/** ExecStart's words after the program (no quotes or specifiers in it, so splitting at spaces is exact). */
function execStartArgs(): { program: string; args: string[] } {
  const line = one('ExecStart');
  assert.doesNotMatch(line, /["'%$\\]/, 'ExecStart is plain words');
  const [program = '', ...args] = line.split(/\s+/);
  return { program, args };
}

/** The capability names of the unit's AmbientCapabilities, as setpriv writes them (net_admin). */
function ambientCapabilities(): string[] {
  return one('AmbientCapabilities')
    .split(/\s+/)
    .map((c) => c.replace(/^CAP_/, '').toLowerCase());
}

function statusField(pid: number, field: string): string {
  const m = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, `${field} of pid ${pid}`);
  return m[1]?.trim() ?? '';
}

describe('examples/systemd/mtuscope.service', () => {
  it("ExecStart is `mtuscope serve` with options of its --help, and the store in the unit's state directory", () => {
    const { program, args } = execStartArgs();
    assert.match(program, /\/mtuscope$/);
    assert.equal(args[0], 'serve');
    for (const flag of args.filter((a) => a.startsWith('--'))) assert.ok(flag.slice(2) in SERVE_OPTIONS, `${flag} is an option of mtuscope serve`);
    const options = serveOptionsFrom(parseInvocation(serveCommand, args.slice(1)).values);
    assert.equal(options.storePath, `/var/lib/${one('StateDirectory')}/results.sqlite`);
    assert.equal(options.logFormat, 'json');
    assert.deepEqual(options.listen, ['0.0.0.0', '::']);
  });

  it('grants CAP_NET_ADMIN and CAP_NET_RAW only, to an unprivileged user, and can never gain more', () => {
    assert.equal(one('AmbientCapabilities'), 'CAP_NET_ADMIN CAP_NET_RAW');
    assert.equal(one('CapabilityBoundingSet'), 'CAP_NET_ADMIN CAP_NET_RAW');
    assert.equal(one('DynamicUser'), 'yes');
    assert.equal(SETTINGS.has('User'), false);
    assert.equal(one('NoNewPrivileges'), 'yes');
    assert.equal(one('ProtectSystem'), 'strict');
    assert.equal(one('ProtectHome'), 'yes');
    assert.equal(one('RestrictAddressFamilies'), 'AF_INET AF_INET6 AF_NETLINK AF_UNIX');
  });

  it('systemd-analyze verify finds nothing wrong (and does find a misspelt setting)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtuscope-unit-'));
    try {
      // verify wants the program to exist: the built CLI stands in for the installed one.
      const runnable = UNIT.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath} ${CLI}`);
      writeFileSync(join(dir, 'mtuscope.service'), runnable);
      const ok = await run('systemd-analyze', ['verify', join(dir, 'mtuscope.service')]);
      assert.equal(ok.stderr, '');
      writeFileSync(join(dir, 'misspelt.service'), runnable.replace('ProtectClock=', 'ProtectClok='));
      const bad = await run('systemd-analyze', ['verify', join(dir, 'misspelt.service')]);
      assert.match(bad.stderr, /Unknown key 'ProtectClok'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * The unit's command run as systemd would run it, without systemd: as an unprivileged user (nobody) whose only
 * capabilities are the unit's ambient ones (setpriv), inside a lab server namespace, tested by real curl.
 */
describe("the unit's command as an unprivileged user with only the unit's capabilities", needsRoot(), () => {
  let c: CheckerLab;
  let serve: LabProcess | undefined;
  let stateDir: string;

  const setpriv = (caps: readonly string[]): string[] => {
    const set = ['-all', ...caps.map((cap) => `+${cap}`)].join(',');
    return ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', `--inh-caps=${set}`, `--ambient-caps=${set}`, `--bounding-set=${set}`, '--no-new-privs'];
  };
  const command = (): string[] => {
    const args = execStartArgs().args.map((a) => a.replace(/^\/var\/lib\/mtuscope\//, `${stateDir}/`));
    assert.ok(args.includes(`${stateDir}/results.sqlite`), 'the store moved to the test state directory');
    return [process.execPath, CLI, ...args];
  };

  before(async () => {
    c = await startCheckerLab({ name: 'chk-unit', clients: [{ name: 'client' }] });
    stateDir = mkdtempSync(join(tmpdir(), 'mtuscope-state-'));
    const nobody = (await run('id', ['-u', 'nobody'])).stdout.trim();
    const nogroup = (await run('getent', ['group', 'nogroup'])).stdout.split(':')[2] ?? '';
    chownSync(stateDir, Number(nobody), Number(nogroup));
  });
  after(async () => {
    await serve?.stop('SIGTERM');
    await c?.destroy();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('refuses to start without CAP_NET_RAW, saying so', async () => {
    const p = c.lab.spawn('server', [...setpriv(['net_admin']), ...command()]);
    await p.waitForOutput(/lacks/, 20_000);
    for (let i = 0; i < 100 && p.running; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await p.stop('SIGKILL'), { code: 1, signal: null });
    assert.match(p.stderr, /this process lacks CAP_NET_RAW\./);
    assert.doesNotMatch((await c.lab.mustExec('server', ['iptables', '-S'])).stdout, /MTUSCOPE/);
  });

  it('starts, tests a client of each family, holds exactly CAP_NET_ADMIN and CAP_NET_RAW, and stops clean on SIGTERM', async () => {
    serve = c.lab.spawn('server', [...setpriv(ambientCapabilities()), ...command()]);
    await serve.waitForOutput(/listening on/, 20_000);
    const pid = serve.pid ?? 0;
    const engine = JSON.parse((await c.curl('client', [c.url(4, '/api/stats')])).stdout) as { pid: number };
    for (const p of [pid, engine.pid]) {
      assert.equal(statusField(p, 'Uid').split(/\s+/)[0], (await run('id', ['-u', 'nobody'])).stdout.trim(), `uid of ${p}`);
      // Bits 12 (CAP_NET_ADMIN) and 13 (CAP_NET_RAW), nothing else, in every set that matters.
      for (const set of ['CapEff', 'CapPrm', 'CapAmb', 'CapBnd']) assert.equal(statusField(p, set), '0000000000003000', `${set} of ${p}`);
      assert.equal(statusField(p, 'NoNewPrivs'), '1');
    }
    // Without CAP_BPF the kernel cannot answer /icmp: the engine does, and the service says why.
    await serve.waitForOutput(/answered by the engine in user space: the kernel answer is unavailable \(.*Operation not permitted/, 5000);
    const icmp = await c.icmpJson('client', 4);
    assert.equal(icmp.result.verdict, 'pass');
    const frag = await c.fragJson('client', 6);
    assert.equal(frag.result.verdict, 'pass');
    assert.match((await c.lab.mustExec('server', ['ls', '-ln', stateDir])).stdout, /results\.sqlite/);
    const stopped = await serve.stop('SIGTERM');
    serve = undefined;
    assert.deepEqual(stopped, { code: 0, signal: null });
    for (const tool of ['iptables', 'ip6tables']) assert.doesNotMatch((await c.lab.mustExec('server', [tool, '-S'])).stdout, /MTUSCOPE/, tool);
  });
});
