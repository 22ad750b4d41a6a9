import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { readCaptureFile, SINK_CHUNK_BYTES } from '../../src/capture/reader.js';
import { openCaptureWriter } from '../../src/capture/writer.js';
import { LinkType } from '../../src/packet/link-type.js';
import { FIXTURE_FINDINGS, fixtureFrames, writeFixture } from '../analyze/support/analyze-fixture.js';
import { ANALYZE_WITH_MARKERS } from '../analyze/support/analyze-with-markers.js';
import { CLI, type CliRun, mtuscope, runToEnd } from '../support/cli.js';
import { fuzzInputs } from '../support/fuzz-inputs.js';
import { prng } from '../support/prng.js';

/** `mtuscope analyze ARGS` with the marker detector: findings known in advance (test/analyze/support/). */
function markers(args: readonly string[], stdin?: Uint8Array): Promise<CliRun> {
  return runToEnd(process.execPath, [ANALYZE_WITH_MARKERS, ...args], stdin === undefined ? {} : { stdin });
}

function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** No stack trace: the message of a command is one `mtuscope analyze: ...` line per problem. */
function assertNoStack(r: CliRun): void {
  assert.doesNotMatch(r.stderr, /^\s+at .*\(.*:\d+:\d+\)$/m, r.stderr);
  for (const line of r.stderr.split('\n').filter((l) => l !== '')) assert.match(line, /^mtuscope analyze: /, r.stderr);
}

const FINDING_KEYS = ['type', 'file', 'id', 'kind', 'severity', 'confidence', 'problem', 'flow', 'interface', 'evidence', 'evidenceOmitted', 'sentence', 'displayFilter', 'facts', 'caveats'];
const SUMMARY_KEYS = ['type', 'file', 'complete', 'error', 'packets', 'firstUs', 'lastUs', 'interfaces', 'flows', 'flowsWithFindings', 'findings', 'problems', 'severities', 'evictions'];

/** Whether the process that owns spool file `name` (mtuscope-analyze-PID-N...) is still running. */
function running(name: string): boolean {
  const pid = Number(/^mtuscope-analyze-(\d+)-/.exec(name)?.[1]);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('mtuscope analyze', () => {
  let dir = '';
  let fixture = '';
  let empty = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mts-analyze-'));
    fixture = join(dir, 'fixture.pcapng');
    await writeFixture(fixture);
    empty = join(dir, 'empty.pcap');
    const w = openCaptureWriter(empty, { format: 'pcap', linkType: LinkType.Ethernet });
    await w.close();
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('usage errors exit 2 and name the option', () => {
    const cases: [string, string[], RegExp][] = [
      ['no file and no --live', [], /expected FILE\.\.\. .* or --live IFACE, got nothing/],
      ['a FILE with --live', ['--live', 'eth0', 'x.pcap'], /--live captures on an interface: give no FILE/],
      ['standard input twice', ['-', '-'], /standard input \("-"\) can be read only once/],
      ['an unknown finding kind', ['--filter', 'pmtu-blackhole,blackhole', 'x.pcap'], /--filter: "blackhole" is not a finding kind/],
      ['--max-flows 0', ['--max-flows', '0', 'x.pcap'], /--max-flows: "0" is not an integer from 1 to 10000000/],
      ['--fragment-memory too small', ['--fragment-memory', '100', 'x.pcap'], /--fragment-memory: "100" is not an integer/],
      ['--link-mtu below 68', ['--link-mtu', '60', 'x.pcap'], /--link-mtu: "60" is not a whole number from 68 to 65536/],
      ['a bad VXLAN port', ['--vxlan-port', '70000', 'x.pcap'], /--vxlan-port: "70000" is not a port number/],
      ['a bad FOU map', ['--fou', 'abc', 'x.pcap'], /--fou: entry "abc"/],
      ['an unknown option', ['--bogus', 'x.pcap'], /--bogus/],
    ];
    for (const [what, args, message] of cases) {
      it(`${what}`, async () => {
        const r = await mtuscope(['analyze', ...args]);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, message);
        assert.match(r.stderr, /^mtuscope analyze: .*; see "mtuscope analyze --help"\n$/);
        assert.equal(r.stdout, '');
      });
    }
  });

  it('exits 1 with a finding of severity error or warning, and prints the text summary naming the file', async () => {
    const r = await markers([fixture]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, new RegExp(`^file: ${fixture}\npackets: 10\n`));
    assert.match(r.stdout, /^result: 2 problems \(1 error, 1 warning\), 2 info$/m);
  });

  it('exits 0 when only info findings remain after --filter, and reports only those kinds', async () => {
    const r = await markers(['--filter', 'capture-caveat,ptb-honoured', '--json', fixture]);
    assert.equal(r.code, 0, r.stderr);
    const objects = jsonLines(r.stdout);
    assert.deepEqual(
      objects.filter((o) => o['type'] === 'finding').map((o) => o['kind']),
      ['ptb-honoured', 'capture-caveat'],
    );
  });

  it('exits 0 on a capture with no finding (the product, whose detectors are not in yet, on an empty capture)', async () => {
    const r = await mtuscope(['analyze', empty]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^packets: 0$/m);
    assert.match(r.stdout, /^time: -$/m);
    assert.match(r.stdout, /^interfaces: -$/m);
    assert.match(r.stdout, /^result: no problem found$/m);
  });

  it('--json: one object per finding with every documented field, then a summary', async () => {
    const r = await markers(['--json', fixture]);
    assert.equal(r.code, 1, r.stderr);
    const objects = jsonLines(r.stdout);
    const findings = objects.filter((o) => o['type'] === 'finding');
    assert.equal(objects.at(-1)?.['type'], 'summary');
    assert.equal(findings.length + 1, objects.length);
    for (const f of findings) assert.deepEqual(Object.keys(f), FINDING_KEYS);
    assert.deepEqual(
      findings.map((f) => [f['id'], f['kind'], f['severity'], (f['evidence'] as { frame: number }[]).map((e) => e.frame)]),
      FIXTURE_FINDINGS.map((f, i) => [i + 1, f.kind, f.severity, [...f.frames]]),
    );
    for (const f of findings) {
      assert.equal(f['file'], fixture);
      assert.equal(f['problem'], f['severity'] !== 'info');
      assert.ok(['high', 'medium', 'low'].includes(f['confidence'] as string));
      assert.equal(typeof f['sentence'], 'string');
      assert.equal(typeof f['displayFilter'], 'string');
      assert.equal(typeof f['evidenceOmitted'], 'number');
      assert.ok(Array.isArray(f['caveats']));
      assert.equal(typeof f['facts'], 'object');
      for (const e of f['evidence'] as Record<string, unknown>[]) assert.deepEqual(Object.keys(e), ['frame', 'timeUs', 'role']);
    }
    const summary = objects.at(-1)!;
    assert.deepEqual(Object.keys(summary), SUMMARY_KEYS);
    assert.equal(summary['packets'], 10);
    assert.equal(summary['complete'], true);
    assert.equal(summary['error'], null);
    assert.deepEqual(summary['interfaces'], ['eth0', '#1']);
    assert.deepEqual(summary['severities'], { error: 1, warning: 1, info: 2 });
  });

  it('cites frames by the numbers tshark gives them: the time of each cited frame is tshark\'s frame.time_epoch', async () => {
    const r = await markers(['--json', fixture]);
    const tshark = execFileSync('tshark', ['-r', fixture, '-T', 'fields', '-e', 'frame.number', '-e', 'frame.time_epoch'], { encoding: 'utf8' });
    const epochUs = new Map(
      tshark
        .trimEnd()
        .split('\n')
        .map((l) => l.split('\t'))
        .map(([n, t]) => [Number(n), Math.round(Number(t) * 1e6)] as const),
    );
    let cited = 0;
    for (const f of jsonLines(r.stdout).filter((o) => o['type'] === 'finding')) {
      for (const e of f['evidence'] as { frame: number; timeUs: number }[]) {
        assert.equal(e.timeUs, epochUs.get(e.frame), `frame ${e.frame}`);
        cited++;
      }
    }
    assert.equal(cited, 6);
  });

  it('reads standard input ("-") as a file named (stdin)', async () => {
    const r = await markers(['--json', '-'], await readFile(fixture));
    assert.equal(r.code, 1, r.stderr);
    const objects = jsonLines(r.stdout);
    assert.ok(objects.every((o) => o['file'] === '(stdin)'));
    assert.equal(objects.filter((o) => o['type'] === 'finding').length, FIXTURE_FINDINGS.length);
  });

  it('on a terminal shows its progress and reports what it reports off one, over a file of several reads', async () => {
    // Off a terminal the reader reads the file itself; on one, through the loop that shows the progress: both must
    // hand the analyzer every packet of every read (SINK_CHUNK_BYTES), records straddling two reads included.
    const big = join(dir, 'big.pcapng');
    const frames = fixtureFrames();
    const repeats = 1000;
    await writeFixture(
      big,
      Array.from({ length: repeats }, (_, r) => frames.map((f) => ({ ...f, timeNs: f.timeNs + BigInt(r) * 2_000_000_000n }))).flat(),
    );
    const plain = await mtuscope(['analyze', '--json', big]);
    assert.equal(plain.code, 1, plain.stderr);
    assert.ok((await stat(big)).size > 2 * SINK_CHUNK_BYTES);
    const summary = jsonLines(plain.stdout).find((o) => o['type'] === 'summary')!;
    assert.equal(summary['packets'], frames.length * repeats);
    assert.equal(summary['complete'], true);
    const out = join(dir, 'tty.json');
    const tty = await runToEnd('script', ['-qec', `"${process.execPath}" "${CLI}" analyze --json "${big}" > "${out}"`, '/dev/null']);
    assert.equal(tty.code, 1, tty.stdout);
    assert.match(tty.stdout, new RegExp(`mtuscope analyze: ${big.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: \\d+%`));
    assert.equal(await readFile(out, 'utf8'), plain.stdout);
  });

  it('analyses several files each on its own, with its own frame numbers', async () => {
    const r = await markers(['--json', empty, fixture, '-'], await readFile(fixture));
    assert.equal(r.code, 1, r.stderr);
    const summaries = jsonLines(r.stdout).filter((o) => o['type'] === 'summary');
    assert.deepEqual(
      summaries.map((s) => [s['file'], s['packets'], s['findings']]),
      [
        [empty, 0, 0],
        [fixture, 10, 4],
        ['(stdin)', 10, 4],
      ],
    );
    const first = jsonLines(r.stdout).filter((o) => o['type'] === 'finding' && o['file'] === '(stdin)')[0]!;
    assert.equal((first['evidence'] as { frame: number }[])[0]?.frame, 2);
    const text = await markers([fixture, fixture]);
    assert.equal(text.stdout.match(/^file: /gm)?.length, 2);
  });

  it('reports the packets before damage, names the byte offset and exits 2', async () => {
    const whole = await readFile(fixture);
    const cut = join(dir, 'cut.pcapng');
    // The fixture cut inside its sixth record: five packets survive.
    const records = await readCaptureFile(fixture);
    assert.equal(records.length, 10);
    let offset = 0;
    let blocks = 0;
    while (blocks < 3 + 5) {
      offset += whole.readUInt32LE(offset + 4);
      blocks++;
    }
    await writeFile(cut, whole.subarray(0, offset + 20));
    const r = await markers([cut]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^mtuscope analyze: ${cut}: .* at byte offset ${offset}\n$`));
    assert.match(r.stdout, /^packets: 5 \(the capture is cut short: see "read error"\)$/m);
    assert.match(r.stdout, new RegExp(`^read error: .* at byte offset ${offset}; the analysis covers the 5 packets before it$`, 'm'));
    assertNoStack(r);
    const j = await markers(['--json', cut]);
    const summary = jsonLines(j.stdout).at(-1)!;
    assert.equal(summary['complete'], false);
    assert.match(summary['error'] as string, new RegExp(`at byte offset ${offset}$`));
  });

  it('exits 2 naming the file for a missing file, a zero-byte file and garbage', async () => {
    const zero = join(dir, 'zero.pcap');
    await writeFile(zero, new Uint8Array(0));
    const garbage = join(dir, 'garbage.pcap');
    await writeFile(garbage, 'this is not a capture at all\n');
    for (const [file, message] of [
      [join(dir, 'missing.pcap'), /ENOENT/],
      [zero, /empty file at byte offset 0/],
      [garbage, /at byte offset 0/],
      [dir, /EISDIR/],
    ] as const) {
      const r = await mtuscope(['analyze', file]);
      assert.equal(r.code, 2, `${file}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^mtuscope analyze: ${file}: `));
      assert.match(r.stderr, message);
      assertNoStack(r);
    }
  });

  it('--extract writes exactly the evidence frames, byte for byte, each with its comment, readable by tshark', async () => {
    const out = join(dir, 'evidence.pcapng');
    const r = await markers(['--extract', out, fixture]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^mtuscope analyze: 6 evidence frames written to ${out}\n$`));
    const cited = [2, 4, 5, 6, 7, 9];
    const input = await readCaptureFile(fixture);
    const written = await readCaptureFile(out);
    assert.equal(written.length, cited.length);
    for (const [i, frame] of cited.entries()) {
      const a = input[frame - 1]!;
      const b = written[i]!;
      assert.deepEqual(b.data, a.data, `frame ${frame}`);
      assert.equal(b.timestampNs, a.timestampNs);
      assert.equal(b.originalLength, a.originalLength);
      assert.equal(b.linkType, a.linkType);
      assert.equal(b.interfaceName, a.interfaceName);
    }
    const tshark = execFileSync('tshark', ['-r', out, '-T', 'fields', '-E', 'separator=|', '-e', 'frame.number', '-e', 'frame.len', '-e', 'frame.comment'], { encoding: 'utf8' });
    const rows = tshark.trimEnd().split('\n').map((l) => l.split('|'));
    assert.deepEqual(
      rows.map((row) => row[0]),
      cited.map((_, i) => String(i + 1)),
    );
    assert.equal(rows[0]![2], 'mtuscope #1 pmtu-blackhole (error): segment seq 1000 len 1448 DF');
    assert.equal(rows[2]![2], 'mtuscope #2 ptb-honoured (info): Packet Too Big MTU 1400');
    assert.equal(rows[5]![2], 'mtuscope #4 capture-caveat (info): cut by the snaplen');
    assert.equal(rows[5]![1], String(input[8]!.originalLength));
  });

  it('--extract from standard input spools it for the second pass and removes the spool', async () => {
    const before = (await readdir(tmpdir())).filter((f) => f.startsWith('mtuscope-analyze-'));
    const out = join(dir, 'stdin-evidence.pcapng');
    const r = await markers(['--extract', out, '--json', '-'], await readFile(fixture));
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, '');
    const written = await readCaptureFile(out);
    assert.equal(written.length, 6);
    // Spools are named mtuscope-analyze-PID-N: those of processes still running belong to other tests (--live).
    const left = (await readdir(tmpdir())).filter((f) => f.startsWith('mtuscope-analyze-') && !before.includes(f) && !running(f));
    assert.deepEqual(left, []);
  });

  it('--extract without findings writes a valid pcapng without packets', async () => {
    const out = join(dir, 'none.pcapng');
    const r = await mtuscope(['analyze', '--extract', out, empty]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readCaptureFile(out), []);
    execFileSync('tshark', ['-r', out], { encoding: 'utf8' });
  });

  it('never crashes on hostile captures: fuzzed packets, random records, random bytes (exit 0, 1 or 2, no stack trace)', async () => {
    const files: string[] = [];
    // Valid containers of hostile packets.
    for (let seed = 1; seed <= 3; seed++) {
      const path = join(dir, `fuzz-${seed}.pcapng`);
      const w = openCaptureWriter(path, {
        format: 'pcapng',
        interfaces: [LinkType.Ethernet, LinkType.Raw, LinkType.LinuxSll, LinkType.LinuxSll2, LinkType.Null, LinkType.Loop, LinkType.Ipv4, LinkType.Ipv6].map((linkType) => ({ linkType })),
      });
      const ids = new Map<number, number>([LinkType.Ethernet, LinkType.Raw, LinkType.LinuxSll, LinkType.LinuxSll2, LinkType.Null, LinkType.Loop, LinkType.Ipv4, LinkType.Ipv6].map((l, i) => [l, i]));
      let t = 1_700_000_000_000_000_000n;
      for (const input of fuzzInputs(3000, seed)) {
        t += 1000n;
        await w.write({ timestampNs: t, data: input.data, originalLength: Math.max(input.originalLength, input.data.length), interfaceId: ids.get(input.linkType)! });
      }
      await w.close();
      files.push(path);
    }
    // Random bytes after a valid header, and a valid file with random bytes written over it.
    const rnd = prng(7);
    const whole = await readFile(fixture);
    for (let i = 0; i < 3; i++) {
      const path = join(dir, `mangled-${i}.pcapng`);
      const b = Buffer.from(whole);
      for (let k = 0; k < 20; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      await writeFile(path, i === 0 ? Buffer.concat([whole.subarray(0, 100), Buffer.from(Array.from({ length: 5000 }, () => Math.floor(rnd() * 256)))]) : b);
      files.push(path);
    }
    const random = fc.sample(fc.uint8Array({ minLength: 0, maxLength: 3000, size: 'max' }), { numRuns: 2, seed: 11 });
    for (const [i, bytes] of random.entries()) {
      const path = join(dir, `random-${i}.pcap`);
      await writeFile(path, bytes);
      files.push(path);
    }
    for (const args of [files, ['--json', ...files], ['--extract', join(dir, 'fuzz-out.pcapng'), ...files]]) {
      const r = await markers(args);
      assert.ok(r.code === 0 || r.code === 1 || r.code === 2, `exit ${String(r.code)}: ${r.stderr}`);
      assertNoStack(r);
    }
    const product = await mtuscope(['analyze', '--json', ...files]);
    assert.ok(product.code === 0 || product.code === 1 || product.code === 2, product.stderr);
    assertNoStack(product);
    assert.equal(jsonLines(product.stdout).filter((o) => o['type'] === 'summary').length, files.length);
  });
});
