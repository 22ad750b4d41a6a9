import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { listNamespaces } from '../../src/lab/namespaces.js';
import { tearDownRecordedLab } from '../../src/lab/recorded-lab.js';
import { findLabs } from '../../src/lab/registry.js';
import { mtuscope as run, type CliRun } from '../support/cli.js';
import { needsRoot } from '../support/root.js';

function mtuscope(...args: string[]): Promise<CliRun> {
  return run(args, { timeoutMs: 30_000 });
}

/** The same as user nobody: no root, no capabilities. */
function asNobody(...args: string[]): Promise<CliRun> {
  return run(args, { timeoutMs: 30_000, prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] });
}

const EXAMPLES = fileURLToPath(new URL('../../../examples/labs/', import.meta.url));

/** A name of our own: `lab up` refuses names in use, and other tests may run in parallel. */
const NAME = `clitest-${randomBytes(3).toString('hex')}`;

const TOPOLOGY = `# a — r ==1400== b
name: ${NAME}
topology:
  nodes:
    a: { kind: host }
    r: { kind: router, clamp-mss: 1344 }
    b: { kind: host }
  links:
    - endpoints: ["a:eth1", "r:eth1"]
    - endpoints: ["r:eth2", "b:eth1"]
      mtu: 1400
`;

const BAD = `name: ${NAME}-bad
topology:
  nodes:
    a: { kind: host, colour: red }
    r: { kind: router, clamp-mss: 5 }
  links:
    - endpoints: ["a:eth1", "r:eth1"]
`;

let dir = '';
let file = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mtl-cli-'));
  file = join(dir, 'lab.yaml');
  await writeFile(file, TOPOLOGY);
  await writeFile(join(dir, 'bad.yaml'), BAD);
});

after(async () => {
  // Whatever a failed assertion left up.
  for (const record of findLabs(NAME)) if (record.name === NAME) await tearDownRecordedLab(record);
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

describe('mtuscope lab usage', () => {
  it('prints help and rejects bad usage with exit status 2', async () => {
    const help = await mtuscope('lab', '--help');
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^ {2}up +build .*\n {2}down +tear /m);
    for (const sub of ['exec', 'list', 'gc', 'run', 'scenarios']) assert.match(help.stdout, new RegExp(`^ {2}${sub} +\\S`, 'm'));
    const bare = await mtuscope('lab');
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /^Usage: mtuscope lab <subcommand>/);
    assert.match((await mtuscope('lab', 'up', '--help')).stdout, /^Usage: mtuscope lab up FILE/);
    const cases: [string[], RegExp][] = [
      [['lab', 'bogus'], /^mtuscope lab: unknown subcommand "bogus"; see "mtuscope lab --help"$/m],
      [['lab', 'up'], /^mtuscope lab up: expected FILE, got nothing/],
      [['lab', 'up', 'a.yaml', 'b.yaml'], /^mtuscope lab up: expected FILE, got "a.yaml" "b.yaml"/],
      [['lab', 'exec', 'x', 'y'], /^mtuscope lab exec: .*"--" is missing/],
      [['lab', 'exec', 'x', 'y', '--'], /^mtuscope lab exec: no command after "--"/],
      [['lab', 'list', '--all'], /^mtuscope lab list: Unknown option '--all'; see "mtuscope lab list --help"$/m],
      [['lab', 'gc', 'now'], /^mtuscope lab gc: expected no arguments, got "now"/],
      [['lab', 'up', join(tmpdir(), 'no-such-lab-file.yaml')], /^mtuscope lab up: cannot read .*no-such-lab-file\.yaml: ENOENT/],
    ];
    for (const [args, message] of cases) {
      const r = await mtuscope(...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, message);
    }
  });

  it('every subcommand has help (exit 0) and names a bad flag (exit 2)', async () => {
    for (const sub of ['up', 'down', 'exec', 'list', 'gc', 'run', 'scenarios']) {
      const help = await mtuscope('lab', sub, '--help');
      assert.equal(help.code, 0, sub);
      assert.match(help.stdout, new RegExp(`^Usage: mtuscope lab ${sub}\\b`));
      assert.match(help.stdout, /Exit status:\s/, `lab ${sub} --help says what its exit statuses mean`);
      const bad = await mtuscope('lab', sub, '--bogus');
      assert.equal(bad.code, 2, sub);
      assert.match(bad.stderr, new RegExp(`^mtuscope lab ${sub}: Unknown option '--bogus'`));
    }
    // Every listing says what its JSON looks like.
    for (const sub of ['up', 'list', 'gc', 'run', 'scenarios']) assert.match((await mtuscope('lab', sub, '--help')).stdout, /--json[\s\S]*JSON: [[{]/, sub);
  });

  it('reports an invalid topology file key by key, exit status 2', async () => {
    const r = await mtuscope('lab', 'up', join(dir, 'bad.yaml'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^mtuscope lab up: .*bad\.yaml is not a valid topology file:$/m);
    assert.match(r.stderr, /^\S*bad\.yaml:4: topology\.nodes\.a\.colour: unknown key "colour"/m);
    assert.match(r.stderr, /\nsee "mtuscope lab up --help"\n$/);
    assert.equal(findLabs(`${NAME}-bad`).length, 0);
  });
});

describe('mtuscope lab without root', () => {
  const lacks = /needs root, or the capabilities CAP_SYS_ADMIN and CAP_NET_ADMIN, to .*; this process lacks CAP_SYS_ADMIN and CAP_NET_ADMIN\. Run it as root \(sudo\)\./;

  it('lab up and lab run say what is missing before touching anything, exit status 1', async () => {
    const up = await asNobody('lab', 'up', join(EXAMPLES, 'pmtu-blackhole.yaml'));
    assert.equal(up.code, 1, up.stderr);
    assert.match(up.stderr, /^mtuscope lab up: needs root/);
    assert.match(up.stderr, lacks);
    assert.doesNotMatch(up.stderr, /EACCES|EPERM/);
    assert.equal(up.stdout, '');
    const scenario = await asNobody('lab', 'run', 'icmp-blackhole');
    assert.equal(scenario.code, 1, scenario.stderr);
    assert.match(scenario.stderr, /^mtuscope lab run: needs root/);
    assert.match(scenario.stderr, lacks);
    assert.doesNotMatch(scenario.stderr, /EACCES|EPERM/);
    // Usage errors stay usage errors: an invalid file or an unknown scenario is reported without root too.
    assert.equal((await asNobody('lab', 'run', 'no-such-scenario')).code, 2);
  });

  it('lab gc does not claim that nothing is left behind: it cannot tell, and says so, exit status 1', async () => {
    for (const args of [['lab', 'gc'], ['lab', 'gc', '--json']]) {
      const gc = await asNobody(...args);
      assert.equal(gc.code, 1, args.join(' '));
      assert.match(gc.stderr, lacks);
      assert.match(gc.stderr, /cannot tell whether anything is left behind: nothing was checked or removed/);
      assert.equal(gc.stdout, '');
    }
  });

  it('lab list and lab scenarios need no root', async () => {
    assert.equal((await asNobody('lab', 'list')).code, 0);
    const list = await asNobody('lab', 'list', '--json');
    assert.equal(list.code, 0, list.stderr);
    assert.ok(Array.isArray(JSON.parse(list.stdout)));
    assert.equal((await asNobody('lab', 'scenarios')).code, 0);
  });

  it('as root with a registry it cannot write, lab up says which directory and why, not a bare errno', needsRoot(), async () => {
    const r = await run(['lab', 'up', file], { env: { ...process.env, MTUSCOPE_LAB_DIR: `/sys/mtuscope-test-${randomBytes(3).toString('hex')}` } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^mtuscope lab up: cannot write the lab registry in \/sys\/mtuscope-test-\w+ \(EPERM\): labs are registered there so that "lab gc" can find what they leave behind/);
    assert.equal(findLabs(NAME).length, 0);
  });
});

interface LabJson {
  name: string;
  id: string;
  nodes: {
    name: string;
    kind: string;
    interfaces: { name: string; kind: string; mtu: number; ipv4: string; ipv6: string; peer: string }[];
    routes: { family: string; to: string; nexthops: { via: string; dev: string }[] }[];
    features: string[];
  }[];
}

interface ListJson {
  name: string;
  id: string;
  nodes: string[];
  namespaces: string[];
  created: string;
  ageSeconds: number;
  ownerPid: number | null;
  live: boolean;
}

describe('mtuscope lab up/list/exec/down', needsRoot(), () => {
  it('round trip', async () => {
    const up = await mtuscope('lab', 'up', file);
    assert.equal(up.code, 0, up.stderr);
    const id = new RegExp(`^lab ${NAME} is up \\(id ([0-9a-f]{6})\\): 3 nodes, 2 links$`, 'm').exec(up.stdout)?.[1];
    assert.ok(id, up.stdout);
    assert.match(up.stdout, /^b\s+host\s+eth1\s+1400\s+10\.\d+\.\d+\.\d+\/\d+\s+fd00:\S+\s+r:eth2$/m);
    assert.match(up.stdout, /r: clamps MSS to 1344/);
    // The routes the lab installed, both families: a and b reach each other's link through r (automatic numbering:
    // link 1 is 10.0.1.0/24, link 2 10.0.2.0/24); r needs none beyond its own links.
    assert.match(
      up.stdout,
      /^routes \(besides those of the interfaces' own subnets\):\nNODE +TO +VIA +DEV\na +10\.0\.2\.0\/24 +10\.0\.1\.2 +eth1\n +fd00:0:0:2::\/64 +fd00:0:0:1::2 +eth1\nb +10\.0\.1\.0\/24 +10\.0\.2\.1 +eth1\n +fd00:0:0:1::\/64 +fd00:0:0:2::1 +eth1\n\n/m,
    );
    // ... and they are what the kernel has.
    for (const [family, prefix, via] of [['-4', '10.0.2.0/24', '10.0.1.2'], ['-6', 'fd00:0:0:2::/64', 'fd00:0:0:1::2']] as const) {
      const kernel = await mtuscope('lab', 'exec', NAME, 'a', '--', 'ip', family, 'route', 'show', prefix);
      assert.match(kernel.stdout, new RegExp(`^${prefix.replace(/[./]/g, '\\$&')} via ${via} dev eth1`, 'm'));
    }
    // The lab outlives the command that built it.
    assert.equal(listNamespaces().filter((n) => n.startsWith(`mtl-${id}-`)).length, 3);

    const again = await mtuscope('lab', 'up', file);
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`a lab named "${NAME}" is already up \\(id ${id}\\)`));

    const list = await mtuscope('lab', 'list');
    assert.equal(list.code, 0);
    assert.match(list.stdout, /^NAME\s+ID\s+NODES\s+AGE\s+OWNER$/m);
    assert.match(list.stdout, new RegExp(`^${NAME}\\s+${id}\\s+a,r,b\\s+\\d+s\\s+lab up$`, 'm'));

    const dst = /^b\s+host\s+eth1\s+1400\s+(10\.\d+\.\d+\.\d+)\//m.exec(up.stdout)?.[1] ?? '';
    const ping = await mtuscope('lab', 'exec', NAME, 'a', '--', 'ping', '-n', '-c', '1', '-W', '1', '-M', 'do', '-s', '1472', dst);
    assert.equal(ping.code, 1);
    assert.match(ping.stdout, /mtu = 1400/);
    const route = await mtuscope('lab', 'exec', id, 'a', '--', 'ip', 'route', 'get', dst);
    assert.equal(route.code, 0);
    assert.match(route.stdout, /mtu 1400/);
    assert.equal((await mtuscope('lab', 'exec', NAME, 'b', '--', 'sh', '-c', 'exit 7')).code, 7);
    assert.equal((await mtuscope('lab', 'exec', NAME, 'b', '--', 'sh', '-c', 'kill -TERM $$')).code, 128 + 15);
    const noNode = await mtuscope('lab', 'exec', NAME, 'zz', '--', 'true');
    assert.equal(noNode.code, 1);
    assert.match(noNode.stderr, /^mtuscope lab exec: lab \S+ has no node "zz" \(nodes: a, r, b\)/);

    // Without root neither exec nor down gets anywhere, and says why; the lab stays as it was.
    for (const args of [['exec', NAME, 'a', '--', 'true'], ['down', NAME]]) {
      const refused = await asNobody('lab', ...args);
      assert.equal(refused.code, 1, args.join(' '));
      assert.match(refused.stderr, new RegExp(`^mtuscope lab ${args[0]}: needs root, or the capabilities CAP_SYS_ADMIN and CAP_NET_ADMIN`));
    }
    assert.equal(listNamespaces().filter((n) => n.startsWith(`mtl-${id}-`)).length, 3);

    const down = await mtuscope('lab', 'down', NAME);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, new RegExp(`lab ${NAME} \\(${id}\\) is down`));
    assert.deepEqual(listNamespaces().filter((n) => n.startsWith(`mtl-${id}-`)), []);
    assert.doesNotMatch((await mtuscope('lab', 'list')).stdout, new RegExp(id));
  });

  it('lab up --json and lab list --json', async () => {
    const up = await mtuscope('lab', 'up', '--json', file);
    assert.equal(up.code, 0, up.stderr);
    const lab = JSON.parse(up.stdout) as LabJson;
    try {
      assert.equal(lab.name, NAME);
      assert.match(lab.id, /^[0-9a-f]{6}$/);
      assert.deepEqual(lab.nodes.map((n) => [n.name, n.kind]), [['a', 'host'], ['r', 'router'], ['b', 'host']]);
      const b = lab.nodes[2]!;
      assert.deepEqual(b.interfaces, [{ name: 'eth1', kind: 'veth', mtu: 1400, ipv4: '10.0.2.2/24', ipv6: 'fd00:0:0:2::2/64', peer: 'r:eth2' }]);
      assert.deepEqual(b.routes, [
        { family: 'ipv4', to: '10.0.1.0/24', nexthops: [{ via: '10.0.2.1', dev: 'eth1' }] },
        { family: 'ipv6', to: 'fd00:0:0:1::/64', nexthops: [{ via: 'fd00:0:0:2::1', dev: 'eth1' }] },
      ]);
      assert.deepEqual(lab.nodes[1]!.routes, []);
      assert.deepEqual(lab.nodes[1]!.features, ['clamps MSS to 1344']);

      const list = await mtuscope('lab', 'list', '--json');
      assert.equal(list.code, 0, list.stderr);
      const mine = (JSON.parse(list.stdout) as ListJson[]).filter((r) => r.id === lab.id);
      assert.equal(mine.length, 1);
      assert.deepEqual({ ...mine[0]!, created: '', ageSeconds: 0 }, {
        name: NAME,
        id: lab.id,
        nodes: ['a', 'r', 'b'],
        namespaces: ['a', 'r', 'b'].map((n) => `mtl-${lab.id}-${n}`),
        created: '',
        ageSeconds: 0,
        ownerPid: null,
        live: true,
      });
      assert.ok(Math.abs(Date.parse(mine[0]!.created) - Date.now()) < 60_000);
      assert.ok(mine[0]!.ageSeconds >= 0 && mine[0]!.ageSeconds < 60);
    } finally {
      assert.equal((await mtuscope('lab', 'down', lab.id)).code, 0);
    }
    const after = JSON.parse((await mtuscope('lab', 'list', '--json')).stdout) as ListJson[];
    assert.ok(!after.some((r) => r.id === lab.id));
  });

  it('names an unknown lab', async () => {
    for (const args of [['down', `${NAME}-nope`], ['exec', `${NAME}-nope`, 'a', '--', 'true']]) {
      const r = await mtuscope('lab', ...args);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`no lab named "${NAME}-nope" is up`));
    }
  });
});

describe('the example topology files', needsRoot(), () => {
  const examples = EXAMPLES;

  /** The example under a name of our own, so that a user's lab of the same name (or a parallel run) is no obstacle. */
  async function upExample(file: string): Promise<string> {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(join(examples, file), 'utf8');
    const name = `${file.replace(/\.yaml$/, '')}-${randomBytes(2).toString('hex')}`;
    const renamed = join(dir, file);
    await writeFile(renamed, text.replace(/^name: .*$/m, `name: ${name}`));
    const up = await mtuscope('lab', 'up', renamed);
    assert.equal(up.code, 0, up.stderr);
    return name;
  }

  for (const file of ['pmtu-blackhole.yaml', 'ecmp-anycast.yaml', 'vxlan-lb.yaml']) {
    it(`${file} comes up and goes down`, async () => {
      const name = await upExample(file);
      try {
        assert.match((await mtuscope('lab', 'list')).stdout, new RegExp(`^${name} `, 'm'));
      } finally {
        assert.equal((await mtuscope('lab', 'down', name)).code, 0);
      }
    });
  }

  it('pmtu-blackhole.yaml does what its comment says: full-size DF packets vanish without an ICMP, small ones pass', async () => {
    const name = await upExample('pmtu-blackhole.yaml');
    try {
      const big = await mtuscope('lab', 'exec', name, 'client', '--', 'ping', '-n', '-M', 'do', '-s', '1472', '-c', '1', '-W', '1', '10.0.3.2');
      assert.equal(big.code, 1);
      assert.match(big.stdout, /1 packets transmitted, 0 received/);
      assert.doesNotMatch(big.stdout, /Frag needed|mtu =/);
      const small = await mtuscope('lab', 'exec', name, 'client', '--', 'ping', '-n', '-c', '1', '-W', '1', '10.0.3.2');
      assert.equal(small.code, 0, small.stdout);
    } finally {
      await mtuscope('lab', 'down', name);
    }
  });
});
