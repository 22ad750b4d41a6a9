/**
 * Time to a complete diagnosis and probes sent by `mtuscope probe` on a 10-hop lab path with a black hole at hop 6,
 * against iputils `tracepath -n` on the same path in the same run. Needs root.
 *
 *   node dist/bench/probe.js [--runs N] [--rate-limits off|default] [--tracepath-max-hops N]
 *
 *   h -- r1 -- r2 -- ... -- r6 =1400= r7 -- ... -- r10 -- d
 *
 * r6 owns the smaller link (MTU 1400 on both ends of r6-r7) and drops its own Packet Too Big (OUTPUT chain), so
 * 1500-byte packets vanish after hop 6 without a word. Ours: `mtuscope probe -4|-6 --json --no-server d` from h (the
 * prober's defaults otherwise: UDP probes, middlebox detection on); complete means the report names the one black hole
 * after hop 6 (before hop 7) and path MTU 1400. tracepath cannot finish the diagnosis (it prints "no reply" from hop 7
 * on and a path MTU of 1500); its time and output are reported as they are. Per family, RUNS runs of each, alternating,
 * medians compared; then one run of ours with the default parts (the cooperating-server part waits for hellos that
 * nobody answers). ICMP rate limits: off on every node (as the prober's lab tests) or the kernel's defaults.
 * Target: our median under 2x tracepath's, every diagnosis complete. Exits 1 when missed. The lab is removed on exit
 * and on SIGINT/SIGTERM/SIGHUP (startLab's handlers).
 */
import { parseArgs } from 'node:util';
import { startLab } from '../src/lab/lab.js';
import type { RunningLab } from '../src/lab/running-lab.js';
import type { IpFamily } from '../src/packet/ip-family.js';
import { chainSpec, dropPacketTooBig, parseTracepath, probeFromH } from '../test/probe/probe-lab.js';
import { formatReport, type FamilyFigures, type OurRun, type TracepathRun } from './probe-report.js';
import { runBench } from './run-bench.js';


const ROUTERS = 10;
const HOLE_HOP = 6;
const LINK_MTU = 1400;
const OUR_ARGS = ['--no-server'] as const;

interface Options {
  readonly runs: number;
  readonly rateLimits: 'off' | 'default';
  readonly tracepathMaxHops: number;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      'rate-limits': { type: 'string', default: 'off' },
      'tracepath-max-hops': { type: 'string', default: String(ROUTERS + 2) },
    },
  });
  const runs = Number(values.runs);
  const hops = Number(values['tracepath-max-hops']);
  const limits = values['rate-limits'];
  if (!Number.isInteger(runs) || runs < 1 || runs > 20) throw new Error(`--runs ${values.runs}: expected 1-20`);
  if (!Number.isInteger(hops) || hops < 1 || hops > 255) throw new Error(`--tracepath-max-hops ${values['tracepath-max-hops']}: expected 1-255`);
  if (limits !== 'off' && limits !== 'default') throw new Error(`--rate-limits ${limits}: expected off or default`);
  return { runs, rateLimits: limits, tracepathMaxHops: hops };
}

async function ours(lab: RunningLab, family: IpFamily, args: readonly string[]): Promise<OurRun> {
  const { code, report, stderr, ms } = await probeFromH(lab, family, args, 120_000);
  const f = report?.families[0];
  const middlebox = f?.parts['middlebox'] as { probesSent?: number } | undefined;
  const holes = f?.blackHoles.map((b) => `after hop ${b.afterHop} before hop ${b.beforeHop ?? '?'} (${b.size} bytes)`) ?? [];
  const complete = f !== undefined && f.blackHoles.length === 1 && f.blackHoles[0]?.afterHop === HOLE_HOP && f.blackHoles[0].beforeHop === HOLE_HOP + 1 && f.pathMtu === LINK_MTU;
  return {
    ms,
    exitCode: code,
    traceProbes: f?.probesSent ?? 0,
    partProbes: typeof middlebox?.probesSent === 'number' ? middlebox.probesSent : 0,
    complete,
    found: f === undefined ? `no report (exit ${code}): ${stderr.trim().slice(0, 200)}` : `black holes: ${holes.join(', ') || 'none'}; path MTU ${f.pathMtu ?? 'unknown'}`,
  };
}

async function tracepath(lab: RunningLab, family: IpFamily, maxHops: number): Promise<TracepathRun> {
  const started = performance.now();
  const r = await lab.exec('h', ['tracepath', '-n', `-${family}`, '-m', String(maxHops), lab.address('d', family)], { timeoutMs: 300_000 });
  const ms = performance.now() - started;
  const t = parseTracepath(r.stdout, ms);
  return { ms, output: r.stdout, ...(t.resumePmtu === undefined ? {} : { resumePmtu: t.resumePmtu }) };
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench/probe needs root (network namespaces, raw sockets)\n');
    return 1;
  }
  const o = parseOptions();
  const lab = await startLab(chainSpec({ name: 'bench-probe', routers: ROUTERS, linkMtu: { [HOLE_HOP]: LINK_MTU }, rateLimits: o.rateLimits }));
  try {
    await dropPacketTooBig(lab, `r${HOLE_HOP}`, 'OUTPUT');
    const families: FamilyFigures[] = [];
    for (const family of [4, 6] as const) {
      const o1: OurRun[] = [];
      const t1: TracepathRun[] = [];
      for (let n = 0; n < o.runs; n++) {
        process.stderr.write(`IPv${family} run ${n + 1}/${o.runs}\n`);
        // Alternate which goes first. h's kernel caches nothing from either: no Packet Too Big reaches it.
        if (n % 2 === 0) {
          t1.push(await tracepath(lab, family, o.tracepathMaxHops));
          o1.push(await ours(lab, family, OUR_ARGS));
        } else {
          o1.push(await ours(lab, family, OUR_ARGS));
          t1.push(await tracepath(lab, family, o.tracepathMaxHops));
        }
      }
      const withServerPart = await ours(lab, family, []);
      families.push({ family, ours: o1, tracepath: t1, withServerPart });
    }
    const { text, ok } = formatReport({
      routers: ROUTERS,
      blackHoleHop: HOLE_HOP,
      linkMtu: LINK_MTU,
      rateLimits: o.rateLimits === 'off' ? 'off on every node' : "the kernel's defaults on every node",
      tracepathMaxHops: o.tracepathMaxHops,
      ourArgs: ['-4|-6', '--json', ...OUR_ARGS],
      families,
    });
    process.stdout.write(text);
    return ok ? 0 : 1;
  } finally {
    await lab.destroy();
  }
}

runBench('probe', main);
