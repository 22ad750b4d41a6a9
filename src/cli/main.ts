#!/usr/bin/env node
import { runDecode, DECODE_HELP } from './decode-command.js';
import { runLabCommand } from './lab-command.js';
import { runServe } from './serve-command.js';
import { UsageError } from './usage-error.js';

const HELP = `mtuscope — find where packets get lost in transit (path MTU, ICMP Packet Too Big, fragmentation)

Usage: mtuscope <command> [options]

Commands:
  decode FILE       print one line (or one JSON object) per packet of a pcap or pcapng file
  lab ...           build, use and tear down network-namespace labs; run the scenario catalogue
  serve             run the checker service (/icmp and /frag tests, web page, results); needs root

Run "mtuscope <command> --help" for the options of a command.
`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(HELP);
      return command === undefined ? 2 : 0;
    case 'decode':
      if (rest.includes('--help') || rest.includes('-h')) {
        process.stdout.write(DECODE_HELP);
        return 0;
      }
      return runDecode(rest);
    case 'lab':
      return runLabCommand(rest);
    case 'serve':
      return runServe(rest);
    default:
      throw new UsageError(`unknown command "${command}"; see "mtuscope --help"`);
  }
}

const argv = process.argv.slice(2);
main(argv).then(
  (code) => {
    process.exitCode = code;
    exitIfServing();
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`mtuscope: ${err.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`mtuscope: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
    exitIfServing();
  },
);

/** The netfilter queue binding of `serve` cannot be closed and would keep the process alive after its work is done. */
function exitIfServing(): void {
  if (argv[0] === 'serve') process.exit();
}
