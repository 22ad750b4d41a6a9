#!/usr/bin/env node
import { report, runCommand, type CommandGroup } from './command.js';
import { COMMANDS } from './commands.js';
import { runLabCommand } from './lab-command.js';

export const MTUSCOPE: CommandGroup = {
  name: '',
  summary: 'find where packets get lost in transit',
  description: 'mtuscope finds where packets get lost in transit: path MTU, ICMP Packet Too Big filtering, IP fragmentation and encapsulation overhead.',
  subcommands: COMMANDS,
};

// TEMPORARY while lab moves to the command framework.
const [first, ...rest] = process.argv.slice(2);
if (first === 'lab') process.exitCode = await runLabCommand(rest).catch((err: unknown) => report('lab', err));
else process.exitCode = await runCommand(MTUSCOPE, process.argv.slice(2));
