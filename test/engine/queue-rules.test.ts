import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { QueueRuleSpecError, validateQueueRuleSpec, type QueueRuleSpec } from '../../src/engine/queue-rules.js';
import type { IpFamily } from '../../src/packet/ip-family.js';
import { needsRoot } from '../support/root.js';

const asRoot = { ...needsRoot('for network namespaces and iptables'), timeout: 60_000 };
const DRIVER = fileURLToPath(new URL('./queue-rule-driver.js', import.meta.url));

const TRANSFER_BYTES = 256 * 1024;

/** Per host: a server on the port counts what a client sends it and answers with the count. */
const ECHO_COUNT = `
const net = require('node:net');
const [port, ...hosts] = process.argv.slice(1);
function once(host) {
  return new Promise((resolve, reject) => {
    const server = net.createServer((s) => {
      let n = 0;
      s.on('data', (c) => { n += c.length; });
      s.on('end', () => s.end(String(n)));
    });
    server.on('error', reject);
    server.listen(Number(port), host, () => {
      const c = net.connect(Number(port), host);
      let answer = '';
      c.setEncoding('utf8');
      c.on('data', (d) => { answer += d; });
      c.on('end', () => server.close(() => resolve(Number(answer))));
      c.on('error', reject);
      c.end(Buffer.alloc(${TRANSFER_BYTES}, 7));
    });
  });
}
(async () => {
  const out = {};
  for (const h of hosts) out[h] = await once(h);
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`;

type Event = Record<string, unknown>;

interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | null;
}

function run(cmd: string, args: readonly string[], input?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : null;
      resolve({ stdout, stderr, code });
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
}

async function mustRun(cmd: string, args: readonly string[], input?: string): Promise<string> {
  const r = await run(cmd, args, input);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** A process of queue-rule-driver.ts inside the namespace; its stdout is a stream of JSON events. */
class Driver {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly events: Event[] = [];
  private wake: (() => void) | undefined;
  private stderr = '';
  private partial = '';
  private ended = false;

  constructor(ns: string, args: readonly string[], asUser: readonly string[] = []) {
    // `ip netns exec` and setpriv exec their command, so child.pid is the driver's own pid.
    this.child = spawn('ip', ['netns', 'exec', ns, ...asUser, process.execPath, DRIVER, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (this.partial + chunk).split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) if (line !== '') this.events.push(JSON.parse(line) as Event);
      this.wake?.();
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.child.stdin?.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        this.ended = true;
        this.wake?.();
        resolve({ code, signal });
      });
    });
  }

  get pid(): number {
    assert.ok(this.child.pid !== undefined);
    return this.child.pid;
  }

  get errorOutput(): string {
    return this.stderr;
  }

  async next(timeoutMs = 20_000): Promise<Event> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length === 0) {
      if (this.ended) throw new Error(`driver ended without a further event; stderr: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`no event from the driver in ${timeoutMs} ms; stderr: ${this.stderr}`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 200);
      });
      this.wake = undefined;
    }
    return this.events.shift() as Event;
  }

  async expect(event: string): Promise<Event> {
    const e = await this.next();
    assert.equal(e.event, event, `expected ${event}, got ${JSON.stringify(e)}; stderr: ${this.stderr}`);
    return e;
  }

  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) process.kill(this.pid, signal);
  }
}

/** A network namespace of its own (named mtl-… so the test runner's leftover check sees it, but no lab id, so lab gc leaves it alone). */
class TestNamespace {
  readonly name = `mtl-qrules-${randomBytes(4).toString('hex')}`;
  private readonly drivers: Driver[] = [];

  driver(args: readonly string[], asUser: readonly string[] = []): Driver {
    const d = new Driver(this.name, args, asUser);
    this.drivers.push(d);
    return d;
  }

  hold(spec: QueueRuleSpec): Driver {
    return this.driver(['hold', JSON.stringify(spec)]);
  }

  exec(args: readonly string[], input?: string): Promise<string> {
    return mustRun('ip', ['netns', 'exec', this.name, ...args], input);
  }

  /** The filter table as iptables-save prints it, without its dated comment lines and with counters zeroed. */
  async filterTable(family: IpFamily): Promise<string[]> {
    const out = await this.exec([family === 4 ? 'iptables-save' : 'ip6tables-save', '-t', 'filter']);
    return out
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.replace(/\[\d+:\d+\]/g, '[0:0]'));
  }

  async bothTables(): Promise<{ 4: string[]; 6: string[] }> {
    return { 4: await this.filterTable(4), 6: await this.filterTable(6) };
  }

  async restore(family: IpFamily, lines: readonly string[]): Promise<void> {
    await this.exec([family === 4 ? 'iptables-restore' : 'ip6tables-restore', '-w', '--noflush'], ['*filter', ...lines, 'COMMIT', ''].join('\n'));
  }

  async setUp(): Promise<void> {
    await mustRun('ip', ['netns', 'add', this.name]);
    await this.exec(['ip', 'link', 'set', 'lo', 'up']);
    // Rules of someone else, which ours must go in front of and leave alone.
    for (const family of [4, 6] as const) {
      await this.restore(family, ['-A INPUT -p udp --dport 9 -j ACCEPT', '-A OUTPUT -p udp --sport 9 -j ACCEPT']);
    }
  }

  async tearDown(): Promise<void> {
    for (const d of this.drivers) d.kill('SIGKILL');
    await Promise.all(this.drivers.map((d) => d.exited));
    await mustRun('ip', ['netns', 'del', this.name]);
  }
}

async function inNamespace(body: (ns: TestNamespace) => Promise<void>): Promise<void> {
  const ns = new TestNamespace();
  try {
    await ns.setUp();
    await body(ns);
  } finally {
    await ns.tearDown();
  }
}

/** Field 22 of /proc/<pid>/stat, read here independently of the code under test. */
function startTimeOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return Number(stat.slice(stat.lastIndexOf(') ') + 2).split(' ')[19]);
}

interface Expected {
  readonly port: number;
  readonly queueNum: number;
  readonly mark: number;
  readonly pid: number;
  readonly start: number;
  /** As iptables-save prints them, with their prefix length. */
  readonly addresses?: readonly string[];
}

/** The lines one family's set adds to `iptables-save -t filter`, sorted. */
function expectedLines(e: Expected, family: IpFamily): string[] {
  const signed = `-m comment --comment "mtuscope pid=${e.pid} start=${e.start}"`;
  const toQueue = `-j NFQUEUE --queue-num ${e.queueNum} --queue-bypass`;
  const addresses = e.addresses ?? [undefined];
  return [
    `:MTUSCOPE-IN-${e.port} - [0:0]`,
    `:MTUSCOPE-OUT-${e.port} - [0:0]`,
    `-A INPUT ${signed} -j MTUSCOPE-IN-${e.port}`,
    `-A OUTPUT ${signed} -j MTUSCOPE-OUT-${e.port}`,
    ...addresses.map((a) => `-A MTUSCOPE-IN-${e.port}${a === undefined ? '' : ` -d ${a}`} -p tcp -m tcp --dport ${e.port} ${signed} ${toQueue}`),
    ...addresses.map(
      (a) =>
        `-A MTUSCOPE-IN-${e.port}${a === undefined ? '' : ` -d ${a}`} ${family === 4 ? '-p icmp -m icmp --icmp-type 3/4' : '-p ipv6-icmp -m icmp6 --icmpv6-type 2'} -m mark ! --mark 0x${e.mark.toString(16)} ${signed} ${toQueue}`,
    ),
    ...addresses.map(
      (a) =>
        `-A MTUSCOPE-OUT-${e.port}${a === undefined ? '' : ` -s ${a}`} -p tcp -m tcp --sport ${e.port} --tcp-flags FIN,SYN,RST NONE -m length --length 0:${family === 4 ? 80 : 100} ${signed} -j RETURN`,
    ),
    ...addresses.map(
      (a) => `-A MTUSCOPE-OUT-${e.port}${a === undefined ? '' : ` -s ${a}`} -p tcp -m tcp --sport ${e.port} -m mark ! --mark 0x${e.mark.toString(16)} ${signed} ${toQueue}`,
    ),
  ].sort();
}

/** Multiset difference a - b. */
function minus(a: readonly string[], b: readonly string[]): string[] {
  const rest = [...b];
  return a.filter((line) => {
    const i = rest.indexOf(line);
    if (i < 0) return true;
    rest.splice(i, 1);
    return false;
  });
}

/** `after` is `before` plus exactly `expected` (in any place), nothing taken away. */
function assertAdded(before: readonly string[], after: readonly string[], expected: readonly string[], family: IpFamily): void {
  assert.deepEqual(minus(after, before).sort(), [...expected].sort(), `IPv${family}: what the install added`);
  assert.deepEqual(minus(before, after), [], `IPv${family}: what the install took away`);
}

function firstRuleOf(table: readonly string[], chain: string): string | undefined {
  return table.find((l) => l.startsWith(`-A ${chain} `));
}

async function installed(driver: Driver): Promise<Event> {
  const e = await driver.expect('installed');
  assert.equal(e.pid, driver.pid, 'the driver runs as the process ip netns exec started');
  return e;
}

describe('validateQueueRuleSpec', () => {
  const good: QueueRuleSpec = { port: 8080, queueNum: 0, mark: 1, families: [4, 6] };
  const cases: readonly [string, Partial<Record<keyof QueueRuleSpec, unknown>>, string, string][] = [
    ['port 0', { port: 0 }, 'port', '0'],
    ['port 65536', { port: 65536 }, 'port', '65536'],
    ['a fractional port', { port: 80.5 }, 'port', '80.5'],
    ['a port as a string', { port: '80' }, 'port', '"80"'],
    ['queueNum -1', { queueNum: -1 }, 'queueNum', '-1'],
    ['queueNum 65536', { queueNum: 65536 }, 'queueNum', '65536'],
    ['mark 0', { mark: 0 }, 'mark', '0'],
    ['mark 2^32', { mark: 2 ** 32 }, 'mark', '4294967296'],
    ['mark NaN', { mark: Number.NaN }, 'mark', 'NaN'],
    ['no families', { families: [] }, 'families', '[]'],
    ['family 5', { families: [4, 5] }, 'families[1]', '5'],
    ['an address that is none', { listenAddresses: ['10.0.0.300'] }, 'listenAddresses[0]', '"10.0.0.300"'],
    ['an address with a zone', { listenAddresses: ['10.0.0.1', 'fe80::1%eth0'] }, 'listenAddresses[1]', '"fe80::1%eth0"'],
    ['an empty address list', { listenAddresses: [] }, 'listenAddresses', '[]'],
    ['no address for family 6', { listenAddresses: ['10.0.0.1'] }, 'listenAddresses', '["10.0.0.1"]'],
    ['an address of a family not asked for', { families: [4], listenAddresses: ['10.0.0.1', 'fd00::1'] }, 'listenAddresses[1]', '"fd00::1"'],
  ];
  for (const [what, change, field, shown] of cases) {
    it(`rejects ${what}, naming the field and the value`, () => {
      assert.throws(
        () => validateQueueRuleSpec({ ...good, ...change } as QueueRuleSpec),
        (err: unknown) => {
          assert.ok(err instanceof QueueRuleSpecError, String(err));
          assert.equal(err.field, field);
          assert.ok(err.message.includes(`${field} must be`), err.message);
          assert.ok(err.message.endsWith(`got ${shown}`), err.message);
          return true;
        },
      );
    });
  }

  it('accepts the limits and sorts addresses by family, without duplicates', () => {
    const checked = validateQueueRuleSpec({
      port: 65535,
      queueNum: 65535,
      mark: 2 ** 32 - 1,
      families: [6, 4, 6],
      listenAddresses: ['fd00::1', '10.0.0.1', '10.0.0.1', '127.0.0.1'],
    });
    assert.deepEqual(checked, { port: 65535, queueNum: 65535, mark: 2 ** 32 - 1, families: [4, 6], addresses: { 4: ['10.0.0.1', '127.0.0.1'], 6: ['fd00::1'] } });
    assert.equal(validateQueueRuleSpec({ port: 1, queueNum: 0, mark: 1, families: [4] }).addresses, undefined);
  });
});

describe('queue rules in a network namespace', () => {
  it('install puts exactly the expected rules first in INPUT and OUTPUT of both families; remove() takes exactly them away, and again', asRoot, async () => {
    await inNamespace(async (ns) => {
      const before = await ns.bothTables();
      const driver = ns.hold({ port: 8080, queueNum: 7, mark: 42, families: [4, 6] });
      const e = await installed(driver);
      assert.equal(e.replacedStale, false);
      assert.deepEqual(e.chains, { input: 'MTUSCOPE-IN-8080', output: 'MTUSCOPE-OUT-8080' });
      const owner = { pid: driver.pid, start: startTimeOf(driver.pid) };
      const after = await ns.bothTables();
      for (const family of [4, 6] as const) {
        assertAdded(before[family], after[family], expectedLines({ port: 8080, queueNum: 7, mark: 42, ...owner }, family), family);
        assert.match(firstRuleOf(after[family], 'INPUT') ?? '', /-j MTUSCOPE-IN-8080$/);
        assert.match(firstRuleOf(after[family], 'OUTPUT') ?? '', /-j MTUSCOPE-OUT-8080$/);
      }
      driver.send('remove');
      assert.equal((await driver.expect('removed')).removed, true);
      assert.deepEqual(await ns.bothTables(), before);
      driver.send('remove');
      await driver.expect('removed');
      assert.deepEqual(await ns.bothTables(), before);
      driver.send('exit');
      assert.deepEqual(await driver.exited, { code: 0, signal: null });
    });
  });

  it('listenAddresses restrict each family to its own addresses; removeSync() takes the rules away', asRoot, async () => {
    await inNamespace(async (ns) => {
      const before = await ns.bothTables();
      const driver = ns.hold({ port: 443, queueNum: 0, mark: 2 ** 32 - 1, families: [4, 6], listenAddresses: ['127.0.0.1', '10.9.8.7', '::1'] });
      await installed(driver);
      const owner = { pid: driver.pid, start: startTimeOf(driver.pid) };
      const after = await ns.bothTables();
      const common = { port: 443, queueNum: 0, mark: 2 ** 32 - 1, ...owner };
      assertAdded(before[4], after[4], expectedLines({ ...common, addresses: ['127.0.0.1/32', '10.9.8.7/32'] }, 4), 4);
      assertAdded(before[6], after[6], expectedLines({ ...common, addresses: ['::1/128'] }, 6), 6);
      driver.send('remove-sync');
      await driver.expect('removed');
      assert.deepEqual(await ns.bothTables(), before);
    });
  });

  it('a set left by an owner killed with SIGKILL is found stale and replaced by the next install', asRoot, async () => {
    await inNamespace(async (ns) => {
      const before = await ns.bothTables();
      const spec = { port: 8081, queueNum: 3, mark: 0x100, families: [4, 6] } as const;
      const first = ns.hold(spec);
      await installed(first);
      const firstOwner = { pid: first.pid, start: startTimeOf(first.pid) };
      first.kill('SIGKILL');
      assert.deepEqual(await first.exited, { code: null, signal: 'SIGKILL' });
      const left = await ns.bothTables();
      for (const family of [4, 6] as const) assertAdded(before[family], left[family], expectedLines({ ...spec, ...firstOwner }, family), family);

      const finder = ns.driver(['find-stale']);
      assert.deepEqual((await finder.expect('stale')).stale, [
        { family: 4, port: 8081, pid: first.pid },
        { family: 6, port: 8081, pid: first.pid },
      ]);

      const second = ns.hold(spec);
      const e = await installed(second);
      assert.equal(e.replacedStale, true);
      assert.deepEqual(e.replaced, [
        { family: 4, port: 8081, pid: first.pid },
        { family: 6, port: 8081, pid: first.pid },
      ]);
      const secondOwner = { pid: second.pid, start: startTimeOf(second.pid) };
      const now = await ns.bothTables();
      for (const family of [4, 6] as const) assertAdded(before[family], now[family], expectedLines({ ...spec, ...secondOwner }, family), family);
      second.send('exit');
      assert.deepEqual(await second.exited, { code: 0, signal: null });
      assert.deepEqual(await ns.bothTables(), before);
    });
  });

  it('a set signed with a live pid but another start time is stale, as is an unsigned one; removeStaleQueueRules spares a live set', asRoot, async () => {
    await inNamespace(async (ns) => {
      const before = await ns.bothTables();
      // This test process is alive, but did not start at tick 1: a reused pid.
      const reused = `-m comment --comment "mtuscope pid=${process.pid} start=1"`;
      await ns.restore(4, [
        '-N MTUSCOPE-IN-8082',
        '-N MTUSCOPE-OUT-8082',
        `-A MTUSCOPE-IN-8082 -p tcp --dport 8082 ${reused} -j NFQUEUE --queue-num 1 --queue-bypass`,
        `-I INPUT 1 ${reused} -j MTUSCOPE-IN-8082`,
        `-I OUTPUT 1 ${reused} -j MTUSCOPE-OUT-8082`,
      ]);
      // Unsigned, with a jump whose comment only survives removal if it is read and quoted back exactly.
      await ns.restore(6, ['-N MTUSCOPE-IN-8083', '-I INPUT 1 -m comment --comment "say \\"hi\\" \\\\ there" -j MTUSCOPE-IN-8083']);
      const beforeLive = await ns.bothTables();
      const live = ns.hold({ port: 8084, queueNum: 2, mark: 5, families: [4, 6] });
      await installed(live);
      const withLive = await ns.bothTables();

      const finder = ns.driver(['find-stale']);
      assert.deepEqual((await finder.expect('stale')).stale, [
        { family: 4, port: 8082, pid: process.pid },
        { family: 6, port: 8083, pid: null },
      ]);
      const remover = ns.driver(['remove-stale']);
      assert.deepEqual((await remover.expect('removed-stale')).removed, [
        { family: 4, port: 8082, pid: process.pid },
        { family: 6, port: 8083, pid: null },
      ]);
      const after = await ns.bothTables();
      const liveOwner = { pid: live.pid, start: startTimeOf(live.pid) };
      for (const family of [4, 6] as const) {
        assertAdded(before[family], after[family], expectedLines({ port: 8084, queueNum: 2, mark: 5, ...liveOwner }, family), family);
        assert.deepEqual(minus(withLive[family], beforeLive[family]).sort(), minus(after[family], before[family]).sort());
      }

      // The same reused-pid set, met by an install for its port, is replaced.
      await ns.restore(4, ['-N MTUSCOPE-IN-8082', `-A MTUSCOPE-IN-8082 -p tcp --dport 8082 ${reused} -j NFQUEUE --queue-num 1`, `-I INPUT 1 ${reused} -j MTUSCOPE-IN-8082`]);
      const replacing = ns.hold({ port: 8082, queueNum: 1, mark: 9, families: [4] });
      const e = await installed(replacing);
      assert.deepEqual(e.replaced, [{ family: 4, port: 8082, pid: process.pid }]);
      const replacedOwner = { pid: replacing.pid, start: startTimeOf(replacing.pid) };
      assertAdded(after[4], await ns.filterTable(4), expectedLines({ port: 8082, queueNum: 1, mark: 9, ...replacedOwner }, 4), 4);
    });
  });

  it('a live owner keeps its port: a second install is refused with its pid, and its rules stay as they were', asRoot, async () => {
    await inNamespace(async (ns) => {
      const spec = { port: 8085, queueNum: 4, mark: 77, families: [4, 6] } as const;
      const owner = ns.hold(spec);
      await installed(owner);
      const withOwner = await ns.bothTables();
      const intruder = ns.hold(spec);
      const refusal = await intruder.expect('error');
      assert.equal(refusal.name, 'QueueRulesInUseError');
      assert.equal(refusal.message, `port 8085 is already served by mtuscope pid ${owner.pid}`);
      assert.deepEqual(await intruder.exited, { code: 3, signal: null });
      assert.deepEqual(await ns.bothTables(), withOwner);
    });
  });

  it('of several processes installing for one port at once, exactly one wins and the others are refused with its pid', asRoot, async () => {
    await inNamespace(async (ns) => {
      const before = await ns.bothTables();
      const spec = { port: 8088, queueNum: 4, mark: 77, families: [4, 6] } as const;
      const racers = [1, 2, 3, 4].map(() => ns.hold(spec));
      const outcomes = await Promise.all(racers.map((r) => r.next()));
      const winners = racers.filter((_, i) => outcomes[i]?.event === 'installed');
      assert.equal(winners.length, 1, JSON.stringify(outcomes));
      const winner = winners[0] as Driver;
      for (const o of outcomes.filter((x) => x.event !== 'installed')) {
        assert.equal(o.message, `port 8088 is already served by mtuscope pid ${winner.pid}`);
      }
      const after = await ns.bothTables();
      const owner = { pid: winner.pid, start: startTimeOf(winner.pid) };
      for (const family of [4, 6] as const) assertAdded(before[family], after[family], expectedLines({ ...spec, ...owner }, family), family);
    });
  });

  it('a live owner of only the IPv6 set refuses the install, and the IPv4 rules just installed are taken back', asRoot, async () => {
    await inNamespace(async (ns) => {
      const before = await ns.bothTables();
      // Signed by this test process, which is running: its start time is right.
      const signed = `-m comment --comment "mtuscope pid=${process.pid} start=${startTimeOf(process.pid)}"`;
      await ns.restore(6, ['-N MTUSCOPE-IN-8086', `-I INPUT 1 ${signed} -j MTUSCOPE-IN-8086`]);
      const withV6 = await ns.bothTables();
      assert.notDeepEqual(withV6[6], before[6]);
      const driver = ns.hold({ port: 8086, queueNum: 4, mark: 77, families: [4, 6] });
      const refusal = await driver.expect('error');
      assert.equal(refusal.message, `port 8086 is already served by mtuscope pid ${process.pid}`);
      assert.deepEqual(await ns.bothTables(), withV6);
    });
  });

  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    it(`${signal} removes the rules, and the process still ends by the signal`, asRoot, async () => {
      await inNamespace(async (ns) => {
        const before = await ns.bothTables();
        const driver = ns.hold({ port: 9000, queueNum: 1, mark: 1, families: [4, 6] });
        await installed(driver);
        assert.notDeepEqual(await ns.bothTables(), before);
        driver.kill(signal);
        assert.deepEqual(await driver.exited, { code: null, signal });
        assert.deepEqual(await ns.bothTables(), before);
      });
    });
  }

  it('an uncaught exception removes the rules and ends the process with status 1', asRoot, async () => {
    await inNamespace(async (ns) => {
      const before = await ns.bothTables();
      const driver = ns.hold({ port: 9001, queueNum: 1, mark: 1, families: [4, 6] });
      await installed(driver);
      assert.notDeepEqual(await ns.bothTables(), before);
      driver.send('throw');
      assert.deepEqual(await driver.exited, { code: 1, signal: null });
      assert.match(driver.errorOutput, /an uncaught exception, on purpose/);
      assert.deepEqual(await ns.bothTables(), before);
    });
  });

  it('the process ending on its own removes the rules', asRoot, async () => {
    await inNamespace(async (ns) => {
      const before = await ns.bothTables();
      const driver = ns.hold({ port: 9002, queueNum: 1, mark: 1, families: [6] });
      await installed(driver);
      assert.deepEqual((await ns.bothTables())[4], before[4], 'a spec for IPv6 only leaves IPv4 alone');
      assert.notDeepEqual((await ns.bothTables())[6], before[6]);
      driver.send('exit');
      assert.deepEqual(await driver.exited, { code: 0, signal: null });
      assert.deepEqual(await ns.bothTables(), before);
    });
  });

  it('a bad spec is rejected before any rule is touched', asRoot, async () => {
    await inNamespace(async (ns) => {
      const before = await ns.bothTables();
      const driver = ns.hold({ port: 8080, queueNum: 70000, mark: 1, families: [4, 6] });
      const e = await driver.expect('error');
      assert.equal(e.name, 'QueueRuleSpecError');
      assert.match(String(e.message), /queueNum must be an integer from 0 to 65535, got 70000/);
      assert.deepEqual(await ns.bothTables(), before);
    });
  });

  it('an iptables failure names the command and what it printed (here: not root)', asRoot, async () => {
    await inNamespace(async (ns) => {
      const driver = ns.driver(['hold', JSON.stringify({ port: 8080, queueNum: 1, mark: 1, families: [4] })], ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']);
      const e = await driver.expect('error');
      assert.equal(e.name, 'XtablesCommandError');
      assert.match(String(e.message), /^iptables -w -t filter -S exited with \d+: .*(Permission denied|must be root)/);
    });
  });

  it('with the rules in place and no queue listener, TCP to the port works (--queue-bypass) and passes through both rules; marked packets skip the OUTPUT rule', asRoot, async () => {
    await inNamespace(async (ns) => {
      const port = 8087;
      const mark = 0x77;
      const driver = ns.hold({ port, queueNum: 11, mark: mark, families: [4, 6] });
      await installed(driver);
      assert.equal((await ns.exec(['cat', '/proc/net/netfilter/nfnetlink_queue'])).trim(), '', 'nobody listens on a queue');

      const transfer = async (): Promise<void> => {
        const out = await ns.exec([process.execPath, '-e', ECHO_COUNT, String(port), '127.0.0.1', '::1']);
        assert.deepEqual(JSON.parse(out), { '127.0.0.1': TRANSFER_BYTES, '::1': TRANSFER_BYTES });
      };
      const counters = async (family: IpFamily): Promise<{ in: number; out: number; pureAcks: number }> => {
        const table = await ns.exec([family === 4 ? 'iptables-save' : 'ip6tables-save', '-c', '-t', 'filter']);
        const packets = (chain: string, target: string): number => {
          const line = table.split('\n').find((l) => l.includes(`-A ${chain} `) && l.endsWith(target));
          assert.ok(line !== undefined, `no rule to ${target} in ${chain}:\n${table}`);
          return Number(/^\[(\d+):\d+\]/.exec(line)?.[1]);
        };
        const queue = '--queue-bypass';
        return { in: packets(`MTUSCOPE-IN-${port}`, queue), out: packets(`MTUSCOPE-OUT-${port}`, queue), pureAcks: packets(`MTUSCOPE-OUT-${port}`, 'RETURN') };
      };

      await transfer();
      for (const family of [4, 6] as const) {
        const c = await counters(family);
        assert.ok(c.in > 0 && c.out > 0, `IPv${family}: the transfer passed through both queue rules: ${JSON.stringify(c)}`);
        assert.ok(c.pureAcks > 0, `IPv${family}: the server's pure ACKs skipped the queue: ${JSON.stringify(c)}`);
      }

      for (const tool of ['iptables', 'ip6tables']) {
        await ns.exec([tool, '-w', '-Z']);
        await ns.exec([tool, '-w', '-t', 'mangle', '-A', 'OUTPUT', '-p', 'tcp', '--sport', String(port), '-j', 'MARK', '--set-mark', String(mark)]);
      }
      await transfer();
      for (const family of [4, 6] as const) {
        const c = await counters(family);
        assert.ok(c.in > 0, `IPv${family}: packets to the port still queued: ${JSON.stringify(c)}`);
        assert.equal(c.out, 0, `IPv${family}: packets with the bypass mark are not queued`);
      }
    });
  });
});
