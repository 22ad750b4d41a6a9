#!/usr/bin/env node
import { invokeCommand, type AnyCommand, type CommandGroup } from './command.js';

/**
 * Commands whose module is loaded alone when they are the one called: `mtuscope analyze FILE` then loads the analyzer
 * and not the checker's server, the relay, the lab and the prober (0.35 s of startup, measured). Anything else
 * (help, an unknown command, the others) goes through the full list.
 */
const ALONE: Readonly<Record<string, () => Promise<AnyCommand>>> = {
  analyze: async () => (await import('./analyze-command.js')).analyzeCommand,
  decode: async () => (await import('./decode-command.js')).decodeCommand,
};

export async function mtuscope(): Promise<CommandGroup> {
  const { COMMANDS } = await import('./commands.js');
  return {
    name: '',
    summary: 'find where packets get lost in transit',
    description: 'mtuscope finds where packets get lost in transit: path MTU, ICMP Packet Too Big filtering, IP fragmentation and encapsulation overhead.',
    subcommands: COMMANDS,
  };
}

const [name, ...rest] = process.argv.slice(2);
const alone = name === undefined || !Object.hasOwn(ALONE, name) ? undefined : ALONE[name];
process.exitCode = alone === undefined ? await invokeCommand(await mtuscope(), process.argv.slice(2)) : await invokeCommand(await alone(), rest);
