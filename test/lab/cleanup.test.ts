import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { gcLabs, type GcReport } from '../../src/lab/gc.js';
import { startLab } from '../../src/lab/lab.js';
import { listNamespaces } from '../../src/lab/namespaces.js';
import { registryDir } from '../../src/lab/registry.js';
import type { LabSpec } from '../../src/lab/spec.js';
import { mtuscope } from '../support/cli.js';
import { holdTracefs, releaseTracefs, TRACEFS_DIR } from '../../src/trace/tracefs.js';
import { needsRoot } from '../support/root.js';

const LAB_MODULE = new URL('../../src/lab/lab.js', import.meta.url).href;
const TRACER_MODULE = new URL('../../src/trace/bpftrace-tracer.js', import.meta.url).href;

/** A process that starts the tracer (drops program, a namespace that does not exist: it sees nothing), reports bpftrace's pid, then waits. */
const TRACER_CHILD = `
import { Tracer } from ${JSON.stringify(TRACER_MODULE)};
const { tracer } = await Tracer.start({ filter: undefined, netns: [1], probes: 'drops', onEvent: () => {} });
console.log(JSON.stringify({ bpftrace: tracer.pid }));
setInterval(() => {}, 1000);
`;

const SPEC: LabSpec = {
  name: 'crash',
  nodes: [
    { name: 'a', kind: 'host' },
    { name: 'r', kind: 'router', dropPacketTooBig: true },
    { name: 'b', kind: 'host' },
  ],
  links: [
    { endpoints: [{ node: 'a', ifname: 'eth1' }, { node: 'r', ifname: 'eth1' }] },
    { endpoints: [{ node: 'r', ifname: 'eth2' }, { node: 'b', ifname: 'eth1' }], mtu: 1400 },
  ],
};

/** A process that builds a lab, starts a long-running process inside one node, reports both and then waits. */
const CHILD = `
import { startLab } from ${JSON.stringify(LAB_MODULE)};
const lab = await startLab(JSON.parse(process.argv[1]));
const sleeper = lab.spawn('b', ['sleep', '300']);
await new Promise((r) => setTimeout(r, 50));
console.log(JSON.stringify({ id: lab.id, sleeper: sleeper.pid }));
setInterval(() => {}, 1000);
`;

interface Started {
  readonly child: ChildProcess;
  readonly id: string;
  readonly sleeper: number;
}

const children: ChildProcess[] = [];

async function startChild(): Promise<Started> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, JSON.stringify(SPEC)], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  child.stdout.setEncoding('utf8');
  for await (const chunk of child.stdout) {
    out += String(chunk);
    if (out.includes('\n')) break;
  }
  const line = out.split('\n')[0] ?? '';
  assert.match(line, /^\{"id":"[0-9a-f]{6}","sleeper":\d+\}$/, `child said: ${out} ${err}`);
  const { id, sleeper } = JSON.parse(line) as { id: string; sleeper: number };
  return { child, id, sleeper };
}

function namespacesOf(id: string): string[] {
  return listNamespaces().filter((n) => n.startsWith(`mtl-${id}-`));
}

/** Running, i.e. neither gone nor a zombie waiting for whoever adopted it to reap it. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && alive(pid); i++) await delay(20);
  return !alive(pid);
}

function registered(id: string): boolean {
  return existsSync(join(registryDir(), `${id}.json`));
}

async function killHard(s: Started): Promise<void> {
  const exited = once(s.child, 'exit');
  s.child.kill('SIGKILL');
  await exited;
  // Nothing ran on the way out: the lab, its process and its entry are all still there.
  assert.equal(namespacesOf(s.id).length, 3);
  assert.ok(alive(s.sleeper));
  assert.ok(registered(s.id));
}

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await gcLabs();
});

describe('cleanup', needsRoot(), () => {
  it('gcLabs removes what a SIGKILLed lab process left: namespaces, the process inside, the registry entry', async () => {
    const s = await startChild();
    assert.deepEqual(namespacesOf(s.id), ['a', 'b', 'r'].map((n) => `mtl-${s.id}-${n}`));
    await killHard(s);
    const report = await gcLabs();
    assert.deepEqual([...report.namespaces].filter((n) => n.startsWith(`mtl-${s.id}-`)).sort(), ['a', 'b', 'r'].map((n) => `mtl-${s.id}-${n}`));
    assert.ok(report.processes.includes(s.sleeper), `killed ${report.processes.join(' ')}`);
    assert.ok(report.records.includes(s.id));
    assert.deepEqual(namespacesOf(s.id), []);
    assert.ok(await gone(s.sleeper), 'the process inside the lab is gone');
    assert.equal(registered(s.id), false);
  });

  it('`mtuscope lab gc` does the same', async () => {
    const s = await startChild();
    await killHard(s);
    const r = await mtuscope(['lab', 'gc']);
    assert.equal(r.code, 0, r.stderr);
    for (const n of ['a', 'b', 'r']) assert.match(r.stdout, new RegExp(`^removed namespace mtl-${s.id}-${n}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^removed registry entry ${s.id}$`, 'm'));
    assert.match(r.stdout, new RegExp(`killed \\d+ process\\(es\\) inside them: .*\\b${s.sleeper}\\b`));
    assert.deepEqual(namespacesOf(s.id), []);
    assert.ok(await gone(s.sleeper));
    assert.equal(registered(s.id), false);
  });

  it('`mtuscope lab gc --json` says the same as one object', async () => {
    const s = await startChild();
    await killHard(s);
    const r = await mtuscope(['lab', 'gc', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as GcReport;
    assert.deepEqual(Object.keys(report).sort(), ['failed', 'namespaces', 'processes', 'records', 'traces']);
    assert.deepEqual(report.namespaces.filter((n) => n.startsWith(`mtl-${s.id}-`)).sort(), ['a', 'b', 'r'].map((n) => `mtl-${s.id}-${n}`));
    assert.ok(report.processes.includes(s.sleeper), `killed ${report.processes.join(' ')}`);
    assert.ok(report.records.includes(s.id));
    assert.deepEqual(report.failed, []);
    assert.deepEqual(namespacesOf(s.id), []);
    assert.ok(await gone(s.sleeper));
    assert.equal(registered(s.id), false);
  });

  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    it(`a lab process that gets ${signal} tears its lab down by itself and still dies of the signal`, async () => {
      const s = await startChild();
      const exited = once(s.child, 'exit');
      s.child.kill(signal);
      const [code, how] = (await exited) as [number | null, NodeJS.Signals | null];
      assert.deepEqual([code, how], [null, signal]);
      assert.deepEqual(namespacesOf(s.id), []);
      assert.ok(await gone(s.sleeper));
      assert.equal(registered(s.id), false);
    });
  }

  it('gcLabs leaves labs of live processes and detached labs alone', async () => {
    const owned = await startLab(SPEC);
    const detached = await startLab(SPEC, { detached: true });
    try {
      const report = await gcLabs();
      assert.ok(!report.namespaces.some((n) => n.includes(owned.id) || n.includes(detached.id)));
      assert.equal(namespacesOf(owned.id).length, 3);
      assert.equal(namespacesOf(detached.id).length, 3);
      assert.ok(registered(owned.id) && registered(detached.id));
    } finally {
      await Promise.all([owned.destroy(), detached.destroy()]);
    }
    assert.deepEqual([...namespacesOf(owned.id), ...namespacesOf(detached.id)], []);
  });

  it('a SIGKILLed process that started a tracer: its bpftrace dies within two seconds, `lab gc` removes its tracefs hold and no live one', async () => {
    const mine = holdTracefs();
    const child = spawn(process.execPath, ['--input-type=module', '-e', TRACER_CHILD], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    try {
      let out = '';
      let err = '';
      child.stderr.setEncoding('utf8').on('data', (x: string) => (err += x));
      child.stdout.setEncoding('utf8');
      for await (const chunk of child.stdout) {
        out += String(chunk);
        if (out.includes('\n')) break;
      }
      assert.match(out, /^\{"bpftrace":\d+\}\n/, `child said: ${out} ${err}`);
      const bpftrace = (JSON.parse(out) as { bpftrace: number }).bpftrace;
      const hold = `mtt-${String(child.pid)}-1`;
      assert.ok(alive(bpftrace), 'bpftrace runs while its parent does');
      assert.ok(existsSync(join(TRACEFS_DIR, 'instances', hold)), `${hold} exists while the tracer runs`);
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
      const killedAt = performance.now();
      for (let i = 0; i < 100 && alive(bpftrace); i++) await delay(20);
      const took = performance.now() - killedAt;
      assert.equal(alive(bpftrace), false, 'bpftrace got the parent-death signal');
      assert.ok(took < 2000, `bpftrace gone after ${took.toFixed(0)} ms`);
      assert.ok(existsSync(join(TRACEFS_DIR, 'instances', hold)), 'nothing removed the hold on the way out (SIGKILL)');

      const r = await mtuscope(['lab', 'gc', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout) as GcReport;
      assert.ok(report.traces.includes(hold), `removed ${report.traces.join(' ')}`);
      assert.ok(!report.traces.includes(mine.split('/').at(-1) ?? ''), 'the hold of a live process stays');
      assert.equal(existsSync(join(TRACEFS_DIR, 'instances', hold)), false);
      assert.equal(existsSync(mine), true);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      releaseTracefs(mine);
    }
  });

  it('gcLabs removes the mtl-* drop-trace instances earlier versions left, of dead labs only', async () => {
    const hold = holdTracefs();
    const live = await startLab(SPEC);
    // As those versions made them: an instance named after the lab, with skb:kfree_skb enabled in it.
    const dead = `mtl-${randomBytes(3).toString('hex')}`;
    const mine = `mtl-${live.id}`;
    const dir = (name: string): string => join(TRACEFS_DIR, 'instances', name);
    try {
      for (const name of [dead, mine]) {
        mkdirSync(dir(name));
        writeFileSync(join(dir(name), 'events', 'skb', 'kfree_skb', 'enable'), '1');
      }
      const report = await gcLabs();
      assert.ok(report.traces.includes(dead), `removed ${report.traces.join(' ')}`);
      assert.ok(!report.traces.includes(mine));
      assert.equal(existsSync(dir(dead)), false);
      assert.equal(existsSync(dir(mine)), true);
    } finally {
      for (const name of [dead, mine]) {
        try {
          writeFileSync(join(dir(name), 'events', 'skb', 'kfree_skb', 'enable'), '0');
          rmdirSync(dir(name));
        } catch {
          // Removed by gc.
        }
      }
      await live.destroy();
      releaseTracefs(hold);
    }
  });
});
