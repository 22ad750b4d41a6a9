import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { listNamespaces } from '../../src/lab/namespaces.js';
import { tearDownRecordedLab } from '../../src/lab/recorded-lab.js';
import { findLabs } from '../../src/lab/registry.js';

const isRoot = process.getuid?.() === 0;
const needsRoot = { skip: isRoot ? false : 'needs root for network namespaces' };
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function mtuscope(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr });
    });
  });
}

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
    assert.match(help.stdout, /up FILE.*\n.*down NAME/s);
    assert.equal((await mtuscope('lab')).code, 2);
    assert.match((await mtuscope('lab', 'up', '--help')).stdout, /^Usage: mtuscope lab up FILE/);
    const cases: [string[], RegExp][] = [
      [['lab', 'bogus'], /unknown lab subcommand "bogus"/],
      [['lab', 'up'], /lab up: expected FILE, got nothing/],
      [['lab', 'up', 'a.yaml', 'b.yaml'], /lab up: expected FILE, got "a.yaml" "b.yaml"/],
      [['lab', 'exec', 'x', 'y'], /lab exec: .*"--" is missing/],
      [['lab', 'exec', 'x', 'y', '--'], /lab exec: no command after "--"/],
      [['lab', 'list', '--all'], /lab list: unknown option "--all"/],
      [['lab', 'up', join(tmpdir(), 'no-such-lab-file.yaml')], /lab up: cannot read .*no-such-lab-file\.yaml: ENOENT/],
    ];
    for (const [args, message] of cases) {
      const r = await mtuscope(...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, message);
    }
  });

  it('reports an invalid topology file key by key, exit status 2', async () => {
    const r = await mtuscope('lab', 'up', join(dir, 'bad.yaml'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad\.yaml:4: topology\.nodes\.a\.colour: unknown key "colour"/);
    assert.equal(findLabs(`${NAME}-bad`).length, 0);
  });
});

describe('mtuscope lab up/list/exec/down', needsRoot, () => {
  it('round trip', async () => {
    const up = await mtuscope('lab', 'up', file);
    assert.equal(up.code, 0, up.stderr);
    const id = new RegExp(`^lab ${NAME} is up \\(id ([0-9a-f]{6})\\): 3 nodes, 2 links$`, 'm').exec(up.stdout)?.[1];
    assert.ok(id, up.stdout);
    assert.match(up.stdout, /^b\s+host\s+eth1\s+1400\s+10\.\d+\.\d+\.\d+\/\d+\s+fd00:\S+\s+r:eth2$/m);
    assert.match(up.stdout, /r: clamps MSS to 1344/);
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
    assert.match(noNode.stderr, /has no node "zz" \(nodes: a, r, b\)/);

    const down = await mtuscope('lab', 'down', NAME);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, new RegExp(`lab ${NAME} \\(${id}\\) is down`));
    assert.deepEqual(listNamespaces().filter((n) => n.startsWith(`mtl-${id}-`)), []);
    assert.doesNotMatch((await mtuscope('lab', 'list')).stdout, new RegExp(id));
  });

  it('names an unknown lab', async () => {
    for (const args of [['down', `${NAME}-nope`], ['exec', `${NAME}-nope`, 'a', '--', 'true']]) {
      const r = await mtuscope('lab', ...args);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`no lab named "${NAME}-nope" is up`));
    }
  });
});

describe('the example topology files', needsRoot, () => {
  const examples = fileURLToPath(new URL('../../../examples/labs/', import.meta.url));

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
