import { errorMessage } from '../src/util/error-message.js';

/** Runs a benchmark's `main`: its result is the exit status; an error is printed as `bench/NAME: ...` with status 1. */
export function runBench(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`bench/${name}: ${errorMessage(err)}\n`);
      process.exitCode = 1;
    },
  );
}
