import { spawnSync } from 'node:child_process';

export interface Measured {
  readonly name: string;
  readonly seconds: number;
  /** CPU time, user and system, of every thread and child: more than `seconds` when several cores worked. */
  readonly cpuSeconds: number;
  readonly peakRssMiB: number;
}

export interface MeasureOptions {
  /** Exit statuses that mean the command worked (`mtuscope analyze` exits 1 when it finds a problem); default [0]. */
  readonly okStatuses?: readonly number[];
  /** Where standard output goes instead of /dev/null (the last run's). */
  readonly stdoutFile?: string;
}

/** The faster of two measurements (the first when there is none yet). */
export function fastest(best: Measured | undefined, run: Measured): Measured {
  return best === undefined || run.seconds < best.seconds ? run : best;
}

/**
 * Runs `argv` (stdout to /dev/null) `runs` times under /usr/bin/time and keeps the fastest run, with
 * its peak RSS: the same measurement for our command and for the reference tools.
 */
export function measure(name: string, argv: readonly string[], runs = 1, options: MeasureOptions = {}): Measured {
  let best: Measured | undefined;
  const ok = options.okStatuses ?? [0];
  for (let r = 0; r < runs; r++) {
    // /usr/bin/time prints "Command exited with non-zero status N" before its own line: the last line is still ours.
    const res = spawnSync('/usr/bin/time', ['-f', '%e %M %U %S', 'sh', '-c', '"$@" > "$OUT"', 'sh', ...argv], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      env: { ...process.env, OUT: options.stdoutFile ?? '/dev/null' },
    });
    const last = res.stderr.trim().split('\n').pop() ?? '';
    const m = /^(\d+(?:\.\d+)?) (\d+) (\d+(?:\.\d+)?) (\d+(?:\.\d+)?)$/.exec(last);
    if (res.status === null || !ok.includes(res.status) || !m) throw new Error(`${name} failed (status ${String(res.status)}): ${res.stderr.slice(-2000)}`);
    const run = { name, seconds: Number(m[1]), cpuSeconds: Number(m[3]) + Number(m[4]), peakRssMiB: Number(m[2]) / 1024 };
    best = fastest(best, run);
  }
  if (!best) throw new RangeError('runs must be at least 1');
  return best;
}
