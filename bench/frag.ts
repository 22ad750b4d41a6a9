// Reassembly speed and memory.
//
//   node dist/bench/frag.js [--fragments N] [--flood N]
//
// Four measurements, each in a child process of its own (clean heap, its own peak RSS), on one core, with fragments
// built before the clock starts:
//   (a) in order   a pool of 512 IPv4 and IPv6 datagrams of 1500..9000 bytes cut at MTU 1500, fragments in order,
//                  the pool replayed until N fragments (default 3,000,000) have been pushed; each run (warm-up, timed,
//                  sampled) must complete every datagram of every pass; the untimed runs compare each completed
//                  datagram's bytes with the original, the timed one its length (a byte compare would be timed too);
//   (b) shuffled   the same, fragments shuffled within windows of 32 datagrams;
//   (c) flood      --flood (default 1,000,000) random fragments, all distinct (each built before the clock starts, none
//                  pushed twice; random sources, identifications, offsets, sizes 8..1200, 30% IPv6) with 400
//                  legitimate datagrams interleaved, under the default 4 MiB cap: they start evenly
//                  spread over the flood and each one's fragments, in random order, follow 1..300 flood fragments
//                  apart, whatever the flood's size (see floodSchedule);
//   (d) accounting a table of 200,000 one-fragment datagrams: bytes really retained per datagram against memoryUsed.
// Reported: fragments/s, datagrams completed, peak memoryUsed, peak retained heap growth (heapUsed + arrayBuffers
// after forced collections, sampled every 20,000 pushes in a second, untimed pass, above the baseline taken before
// the run) and peak RSS.
// Targets: (a) at least 1,000,000 fragments/s; (c) retained heap growth within the cap + 10%, every legitimate
// datagram complete and exact. Exits 1 when one is missed. What (c) completes never depends on speed: all inputs
// come from a seeded generator (the reassembler's own random hash seed only places keys in buckets) and the
// reassembler's clock is counted in pushes (1 ms per 1,000 flood fragments), not read from the wall clock; only the
// rates depend on speed (and (a)'s target with them, on a loaded machine).
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Reassembler } from '../src/frag/reassembler.js';
import { type Order, replayPasses } from './frag-replay.js';
import { prng } from '../test/support/prng.js';
import { evenCuts, v4Datagram, v4Split, v6Datagram, v6Split } from '../test/frag/fragment-builders.js';
import { floodFragmentV4, floodFragmentV6 } from '../test/support/flood-fragment.js';

type Gc = () => void;
const gc = (globalThis as { gc?: Gc }).gc;
if (gc === undefined) {
  // The retained-heap measurement needs forced collections; run again with them allowed.
  const r = spawnSync(process.execPath, ['--expose-gc', ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const collect: Gc = gc;

const { values } = parseArgs({
  options: { fragments: { type: 'string', default: '3000000' }, flood: { type: 'string', default: '1000000' }, workload: { type: 'string' } },
});
const totalFragments = Number(values.fragments);
const floodCount = Number(values.flood);
if (!Number.isInteger(totalFragments) || totalFragments < 1) throw new Error(`--fragments: "${values.fragments}" is not a positive whole number`);
if (!Number.isInteger(floodCount) || floodCount < 1) throw new Error(`--flood: "${values.flood}" is not a positive whole number`);

const CAP = 4 * 1024 * 1024;
const RUNS = 3;
const TARGET_RATE = 1_000_000;
const TARGET_HEAP = CAP * 1.1;
const rand = prng(42);

interface Legit {
  readonly parts: Uint8Array[];
  readonly whole: Uint8Array;
}

function legitimate(count: number, identBase: number): Legit[] {
  const out: Legit[] = [];
  for (let i = 0; i < count; i++) {
    const payload = new Uint8Array(1500 + Math.floor(rand() * 7500)).map((_, j) => (j * 13 + i) & 0xff);
    const ident = identBase + i;
    if (i % 2 === 0) {
      const spec = { src: '10.0.0.1', dst: '10.0.0.2', ident: ident & 0xffff };
      out.push({ parts: v4Split(spec, payload, evenCuts(payload.length, 1480)), whole: v4Datagram(spec, payload) });
    } else {
      const spec = { src: 'fd00::1', dst: 'fd00::2', ident };
      out.push({ parts: v6Split(spec, payload, evenCuts(payload.length, 1448)), whole: v6Datagram(spec, payload) });
    }
  }
  return out;
}

function retained(): number {
  // Two collections: array-buffer memory freed by the first is only released (and counted as gone) by the second.
  collect();
  collect();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

interface Result {
  readonly name: string;
  readonly fragments: number;
  readonly seconds: number;
  readonly completed: number;
  readonly peakMemoryUsed: number;
  readonly peakHeapGrowth: number;
}

function replay(name: string, order: Order): Result {
  const passes = Math.max(1, Math.round(totalFragments / order.fragments.length));
  const wholes = pool.map((l) => l.whole);
  const run = (sample: boolean, compareBytes: boolean): { seconds: number; completed: number; peak: number; heap: number } => {
    const r = new Reassembler({ memoryCap: CAP });
    const base = sample ? retained() : 0;
    let heap = 0;
    const afterPush = sample
      ? (n: number): void => {
          if (n % 20_000 === 0) heap = Math.max(heap, retained() - base);
        }
      : undefined;
    const { seconds, completed } = replayPasses(name, order, wholes, passes, r, { compareBytes, afterPush });
    return { seconds, completed, peak: r.stats.peakMemory, heap };
  };
  run(false, true); // warm-up, bytes compared
  const timed = run(false, false);
  const sampled = run(true, true);
  return {
    name,
    fragments: order.fragments.length * passes,
    seconds: timed.seconds,
    completed: timed.completed,
    peakMemoryUsed: timed.peak,
    peakHeapGrowth: sampled.heap,
  };
}

// (a) and (b): a pool of datagrams replayed; each completes before its key comes round again. The pool (about 3 MB of
// fragments) is kept small enough to stay in cache, as packets just read from a socket or a capture are; with 2000
// datagrams (11 MB) the in-order rate measured memory bandwidth instead (about 1.15 million fragments/s here).
const pool = legitimate(512, 1);
const tagged = (from: number, to: number): { f: Uint8Array; d: number }[] => pool.slice(from, to).flatMap((l, j) => l.parts.map((f) => ({ f, d: from + j })));
const orderOf = (list: readonly { f: Uint8Array; d: number }[]): Order => ({ fragments: list.map((x) => x.f), owner: list.map((x) => x.d) });
const inOrder = (): Order => orderOf(tagged(0, pool.length));
function shuffled(): Order {
  const out: { f: Uint8Array; d: number }[] = [];
  for (let i = 0; i < pool.length; i += 32) {
    const window = tagged(i, i + 32);
    for (let j = window.length - 1; j > 0; j--) {
      const k = Math.floor(rand() * (j + 1));
      [window[j], window[k]] = [window[k]!, window[j]!];
    }
    out.push(...window);
  }
  return orderOf(out);
}

// (c): flood fragments pre-built into one buffer (the pool is part of the baseline), legitimate ones interleaved.
function floodPool(count: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const v6 = rand() < 0.3;
    const src = Math.floor(rand() * 0x100000000);
    const offset = Math.floor(rand() * 8000) * 8;
    const len = 8 * (1 + Math.floor(rand() * 150));
    const more = rand() < 0.9;
    out.push(v6 ? floodFragmentV6(new Uint8Array(48 + len), src, Math.floor(rand() * 0x100000000), offset, more, len) : floodFragmentV4(new Uint8Array(20 + len), src, Math.floor(rand() * 0x10000), 17, offset, more, len));
  }
  return out;
}

/** Most flood fragments between two consecutive fragments of one legitimate datagram. */
const MAX_LEGIT_GAP = 300;

interface Scheduled {
  /** Pushed right after flood fragment number `at`. */
  readonly at: number;
  readonly p: Uint8Array;
  readonly i: number;
}

/**
 * When each legitimate fragment is pushed. Every datagram's fragments come in random order, 1..MAX_LEGIT_GAP flood
 * fragments apart, so that each one faces the same flood whatever its size; the datagrams start evenly spread over
 * the flood so that the last fragment falls within it. Where a datagram spans more than its share of the flood
 * (below about 600,000 flood fragments), the next ones start before it ends and several are pending at once, as from
 * a sender with more than one datagram in flight.
 */
function floodSchedule(legit: readonly Legit[]): Scheduled[] {
  const spreads = legit.map((l) => {
    let at = 0;
    return [...l.parts]
      .sort(() => rand() - 0.5)
      .map((p, k) => {
        if (k > 0) at += 1 + Math.floor(rand() * MAX_LEGIT_GAP);
        return { at, p };
      });
  });
  const longest = Math.max(...spreads.map((s) => s[s.length - 1]!.at));
  const room = floodCount - 1 - longest;
  if (room < 0) throw new Error(`--flood: ${floodCount} flood fragments are fewer than one legitimate datagram spans (${longest + 1})`);
  const schedule = spreads.flatMap((s, i) => {
    const start = Math.floor((i * room) / (legit.length - 1));
    return s.map(({ at, p }) => ({ at: start + at, p, i }));
  });
  return schedule.sort((x, y) => x.at - y.at);
}

function floodRun(): Result {
  const floodFragments = floodPool(floodCount);
  const legit = legitimate(400, 10_000);
  const schedule = floodSchedule(legit);
  const run = (sample: boolean): { seconds: number; completed: number; pushed: number; peak: number; heap: number } => {
    const r = new Reassembler({ memoryCap: CAP });
    const base = sample ? retained() : 0;
    let heap = 0;
    let completed = 0;
    let pushed = 0;
    let q = 0;
    let t = 0;
    const t0 = process.hrtime.bigint();
    for (let n = 0; n < floodCount; n++) {
      r.push(floodFragments[n]!, t);
      pushed++;
      for (; q < schedule.length && schedule[q]!.at <= n; q++) {
        const o = r.push(schedule[q]!.p, t);
        pushed++;
        if (o.status === 'complete') {
          completed++;
          if (!sample && !Buffer.from(o.datagram).equals(Buffer.from(legit[schedule[q]!.i]!.whole))) throw new Error('flood: a legitimate datagram came out wrong');
        }
      }
      if (n % 1000 === 0) t++;
      if (sample && n % 20_000 === 0) {
        heap = Math.max(heap, retained() - base);
      }
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    // A fragment scheduled after the flood's end would never be pushed, and its datagram would count as lost.
    if (q !== schedule.length) throw new Error(`flood: ${schedule.length - q} legitimate fragments were scheduled after the flood's end`);
    return { seconds, completed, pushed, peak: r.stats.peakMemory, heap };
  };
  const timed = run(false);
  const sampled = run(true);
  for (const { completed } of [timed, sampled]) {
    if (completed !== legit.length) throw new Error(`flood: ${completed} of ${legit.length} legitimate datagrams completed`);
  }
  return {
    name: `(c) flood + legitimate`,
    fragments: timed.pushed,
    seconds: timed.seconds,
    completed: timed.completed,
    peakMemoryUsed: timed.peak,
    peakHeapGrowth: sampled.heap,
  };
}

/** Real retention per charged byte for a table of one-fragment datagrams of 8..1200 bytes from random sources. */
function accounting(): { perDatagramRetained: number; perDatagramCharged: number; ratio: number } {
  const count = 200_000;
  const base = retained();
  const r = new Reassembler({ memoryCap: 1 << 30, perSourceCap: 1 << 30 });
  for (let i = 0; i < count; i++) {
    const src = Math.floor(rand() * 0x100000000);
    const offset = 8 * (1 + Math.floor(rand() * 8000));
    const len = 8 * (1 + Math.floor(rand() * 150));
    r.push(floodFragmentV4(new Uint8Array(20 + len), src, 1, 17, offset, true, len), 0);
  }
  const grown = retained() - base;
  const pending = r.pendingDatagrams;
  // A few random keys meet twice (same source and identification); they count as one datagram with two pieces.
  if (pending < count * 0.99) throw new Error(`accounting: only ${pending} of ${count} datagrams pending`);
  return { perDatagramRetained: grown / pending, perDatagramCharged: r.memoryUsed / pending, ratio: grown / r.memoryUsed };
}



const mib = (n: number): string => `${(n / 2 ** 20).toFixed(2)} MiB`;

type Report = Result | ReturnType<typeof accounting>;

if (values.workload !== undefined) {
  // Child: one workload, its figures as JSON on stdout.
  const w = values.workload;
  const report: Report =
    w === 'a'
      ? replay('(a) in order', inOrder())
      : w === 'b'
        ? replay('(b) shuffled', shuffled())
        : w === 'c'
          ? floodRun()
          : accounting();
  process.stdout.write(JSON.stringify({ ...report, maxRss: process.resourceUsage().maxRSS * 1024 }));
} else {
  const child = (w: string): Result & ReturnType<typeof accounting> & { peakRss: number } => {
    const r = spawnSync(process.execPath, ['--expose-gc', process.argv[1]!, '--workload', w, '--fragments', String(totalFragments), '--flood', String(floodCount)], {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    });
    if (r.status !== 0) throw new Error(`workload ${w} failed (status ${String(r.status)}): ${r.stderr}`);
    const parsed = JSON.parse(r.stdout) as Result & ReturnType<typeof accounting> & { maxRss: number };
    return { ...parsed, peakRss: parsed.maxRss };
  };
  // Speeds vary by up to 2x between runs on a shared 2-core VM: (a) and (b) run RUNS times and the run with the median
  // speed is reported, with the range beside it; the target is judged on the median.
  const rateOf = (r: Result): number => r.fragments / r.seconds;
  const repeated = (w: string): { median: Result & { peakRss: number }; range: string } => {
    const runs = Array.from({ length: RUNS }, () => child(w)).sort((x, y) => rateOf(x) - rateOf(y));
    const fmt = (r: Result): string => `${(rateOf(r) / 1e6).toFixed(2)}M`;
    return { median: runs[Math.floor(runs.length / 2)]!, range: `${fmt(runs[0]!)}-${fmt(runs[runs.length - 1]!)}` };
  };
  const speed = [repeated('a'), repeated('b')];
  const results = [...speed.map((x) => x.median), child('c')];
  const ranges = [...speed.map((x) => x.range), 'one run'];
  const acc = child('d');
  process.stdout.write(`node dist/bench/frag.js --fragments ${totalFragments} --flood ${floodCount}   (node ${process.version}, one core, each workload in its own process; (a) and (b): median of ${RUNS} runs)\n\n`);
  const passes = Math.max(1, Math.round(totalFragments / inOrder().fragments.length));
  process.stdout.write(
    `(a), (b): a pool of ${pool.length} datagrams (${inOrder().fragments.length} fragments) pushed ${passes} times over; every datagram must complete in every pass, its bytes compared with the original in the untimed warm-up and sampled runs, its length in the timed run\n` +
      `(c): ${floodCount.toLocaleString('en-US')} distinct random flood fragments, each pushed once, with 400 legitimate datagrams interleaved, each compared byte for byte; cap ${mib(CAP)}\n\n`,
  );
  process.stdout.write(`${'workload'.padEnd(26)}${'fragments'.padStart(11)}${'frag/s'.padStart(13)}${'range'.padStart(14)}${'datagrams'.padStart(11)}${'peak memoryUsed'.padStart(17)}${'peak heap growth'.padStart(18)}${'peak RSS'.padStart(13)}\n`);
  for (const [i, r] of results.entries()) {
    process.stdout.write(
      `${r.name.padEnd(26)}${String(r.fragments).padStart(11)}${Math.round(r.fragments / r.seconds).toLocaleString('en-US').padStart(13)}${ranges[i]!.padStart(14)}${String(r.completed).padStart(11)}${mib(r.peakMemoryUsed).padStart(17)}${mib(r.peakHeapGrowth).padStart(18)}${mib(r.peakRss).padStart(13)}\n`,
    );
  }
  process.stdout.write(
    `\n(d) accounting: 200,000 one-fragment datagrams retain ${acc.perDatagramRetained.toFixed(0)} bytes each (heap + array buffers), memoryUsed charges ${acc.perDatagramCharged.toFixed(0)} (retained/charged ${acc.ratio.toFixed(2)})\n`,
  );
  const rate = rateOf(results[0]!);
  const heapOk = results[2]!.peakHeapGrowth <= TARGET_HEAP;
  const rateOk = rate >= TARGET_RATE;
  process.stdout.write(`\ntarget (a) median >= ${TARGET_RATE.toLocaleString('en-US')} fragments/s: ${rateOk ? 'met' : 'NOT met'} (${Math.round(rate).toLocaleString('en-US')})\n`);
  process.stdout.write(
    `target (c) retained heap growth <= cap + 10% = ${mib(TARGET_HEAP)}: ${heapOk ? 'met' : 'NOT met'} (${mib(results[2]!.peakHeapGrowth)}); all ${results[2]!.completed} legitimate datagrams completed exactly\n`,
  );
  process.exitCode = rateOk && heapOk ? 0 : 1;
}
