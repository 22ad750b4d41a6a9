#!/usr/bin/env node
import { report, runCommand, type CommandGroup } from './command.js';
import { COMMANDS } from './commands.js';
import { runServe } from './serve-command.js';

export const MTUSCOPE: CommandGroup = {
  name: '',
  summary: 'find where packets get lost in transit',
  description: 'mtuscope finds where packets get lost in transit: path MTU, ICMP Packet Too Big filtering, IP fragmentation and encapsulation overhead.',
  subcommands: COMMANDS,
};

// TEMPORARY while serve moves to the command framework.
const [first, ...rest] = process.argv.slice(2);
if (first === 'serve') process.exitCode = await runServe(rest).catch((err: unknown) => report('serve', err));
else process.exitCode = await runCommand(MTUSCOPE, process.argv.slice(2));
