import { spawnSync } from 'node:child_process';

export interface Measured {
  readonly name: string;
  readonly seconds: number;
  readonly peakRssMiB: number;
}

/**
 * Runs `argv` (stdout to /dev/null) `runs` times under /usr/bin/time and keeps the fastest run, with
 * its peak RSS: the same measurement for our command and for the reference tools.
 */
export function measure(name: string, argv: readonly string[], runs = 1): Measured {
  let best: Measured | undefined;
  for (let r = 0; r < runs; r++) {
    const res = spawnSync('/usr/bin/time', ['-f', '%e %M', 'sh', '-c', '"$@" > /dev/null', 'sh', ...argv], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const last = res.stderr.trim().split('\n').pop() ?? '';
    const m = /^(\d+(?:\.\d+)?) (\d+)$/.exec(last);
    if (res.status !== 0 || !m) throw new Error(`${name} failed (status ${String(res.status)}): ${res.stderr.slice(-2000)}`);
    const run = { name, seconds: Number(m[1]), peakRssMiB: Number(m[2]) / 1024 };
    if (!best || run.seconds < best.seconds) best = run;
  }
  if (!best) throw new RangeError('runs must be at least 1');
  return best;
}
