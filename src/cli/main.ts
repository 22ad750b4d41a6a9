#!/usr/bin/env node
import { invokeCommand, type CommandGroup } from './command.js';
import { COMMANDS } from './commands.js';

export const MTUSCOPE: CommandGroup = {
  name: '',
  summary: 'find where packets get lost in transit',
  description: 'mtuscope finds where packets get lost in transit: path MTU, ICMP Packet Too Big filtering, IP fragmentation and encapsulation overhead.',
  subcommands: COMMANDS,
};

process.exitCode = await invokeCommand(MTUSCOPE, process.argv.slice(2));
