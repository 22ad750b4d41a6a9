// Builds, lints, then runs every compiled test file with Node's own test runner, and finally checks that the run
// left nothing of its labs and tracers behind (namespaces, registry entries, tracefs instances of dead tracers,
// bpftrace processes whose parent is gone, the checker's kernel Packet Too Big answers still loaded).
// Arguments narrow the run to test files whose path contains one of them.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  return r.status ?? 1;
}

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

function list(dir, prefix = '') {
  try {
    return readdirSync(dir).filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/**
 * bpftrace processes whose parent is gone (adopted by init or a subreaper that is not a node process): a tracer's
 * bpftrace gets the parent-death signal, so one still running means a tracer was left attached.
 */
function orphanedBpftrace() {
  const out = [];
  for (const name of list('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ")".
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (comm === 'bpftrace' && (ppid === 1 || !alive(ppid))) out.push(`bpftrace process ${name} without its parent`);
  }
  return out;
}

/**
 * Our BPF programs still loaded (native/bpf: the checker's answer_packet_too_big and note_server_isn, the relay's
 * steer_packet_too_big; the kernel keeps 15 characters of a name, bpftool shows the whole one from BTF): each goes with
 * the process that holds its tcx links.
 */
function ourBpfPrograms() {
  const r = spawnSync('bpftool', ['--json', 'prog', 'show'], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  const programs = JSON.parse(r.stdout).filter((p) => typeof p.name === 'string');
  return [
    ...programs
      .filter((p) => p.name.startsWith('answer_packet_t') || p.name === 'note_server_isn')
      .map((p) => `BPF program ${p.id} (the checker's kernel Packet Too Big answer)`),
    ...programs.filter((p) => p.name.startsWith('steer_packet_to')).map((p) => `BPF program ${p.id} (the relay's kernel steering)`),
  ];
}

/**
 * What labs and tracers leave on the host, so that a run can be checked for leftovers (labs of other users stay out of
 * it): tracefs holds count once their process is dead (`mtt-<pid>-<n>`), lab drop traces of earlier versions (`mtl-*`)
 * always.
 */
function labTraces() {
  return new Set([
    ...list('/run/netns', 'mtl-').map((n) => `namespace ${n}`),
    ...list('/run/mtuscope/labs').map((n) => `registry entry ${n}`),
    ...list('/sys/kernel/tracing/instances', 'mtl-').map((n) => `tracefs instance ${n}`),
    ...list('/sys/kernel/tracing/instances', 'mtt-')
      .filter((n) => !alive(Number(/^mtt-(\d+)-/.exec(n)?.[1] ?? NaN)))
      .map((n) => `tracefs instance ${n} of a dead process`),
    ...orphanedBpftrace(),
    ...ourBpfPrograms(),
  ]);
}

const filters = process.argv.slice(2);
// A clean build: a test file that was moved or deleted in src must not keep running from a stale dist/.
rmSync('dist', { recursive: true, force: true });
if (run('npm', ['run', '--silent', 'build']) !== 0) process.exit(1);
if (filters.length === 0 && run('npx', ['eslint', '.']) !== 0) process.exit(1);
const files = findTests('dist/test').filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const before = labTraces();
const status = run('node', ['--test', '--test-concurrency=2', ...files]);
const left = [...labTraces()].filter((t) => !before.has(t));
if (left.length > 0) {
  console.error(`the tests left behind: ${left.join(', ')}`);
  process.exit(1);
}
if (existsSync('/run/netns')) console.error('leftover check: no lab namespace, registry entry, tracefs instance, bpftrace process or BPF program of ours (kernel answer, relay steering) left behind');
process.exit(status);
