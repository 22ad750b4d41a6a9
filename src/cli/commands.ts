import { analyzeCommand } from './analyze-command.js';
import type { AnyCommand } from './command.js';
import { decodeCommand } from './decode-command.js';
import { labCommand } from './lab-command.js';
import { probeCommand } from './probe-command.js';
import { relayCommand } from './relay-command.js';
import { serveCommand } from './serve-command.js';
import { traceCommand } from './trace-command.js';

/** Every command of `mtuscope`, in the order --help lists them. */
export const COMMANDS: readonly AnyCommand[] = [analyzeCommand, decodeCommand, labCommand, probeCommand, relayCommand, serveCommand, traceCommand];
