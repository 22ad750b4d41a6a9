import { fstatSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { CaptureError } from '../capture/capture-error.js';
import { readCaptureBatches } from '../capture/reader.js';
import type { DecodeOptions } from '../packet/frame.js';
import { parseFouPortMap } from '../packet/fou.js';
import { GUE_PORT } from '../packet/gue.js';
import { LARGEST_COMMON_MTU } from '../packet/super-packet.js';
import { VXLAN_PORT } from '../packet/vxlan.js';
import { ParallelDecode } from './parallel-decode.js';
import { type LineFormat, packetLine } from './packet-line.js';
import { CommandFailure, defineCommand, UsageError } from './command.js';
import { LineOutput } from './line-output.js';

function portSet(option: string, text: string): ReadonlySet<number> {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const n = Number(part);
    if (!/^\d{1,5}$/.test(part) || n < 1 || n > 65535) throw new UsageError(`${option}: "${part}" is not a port number (1-65535)`);
    out.add(n);
  }
  return out;
}

export function decodeOptionsFrom(values: { 'vxlan-port'?: string; 'gue-port'?: string; fou?: string }): DecodeOptions {
  const options: { -readonly [K in keyof DecodeOptions]: DecodeOptions[K] } = {};
  if (values['vxlan-port'] !== undefined) options.vxlanPorts = portSet('--vxlan-port', values['vxlan-port']);
  if (values['gue-port'] !== undefined) options.guePorts = portSet('--gue-port', values['gue-port']);
  if (values.fou !== undefined) {
    const fou = parseFouPortMap(values.fou);
    if (!fou.ok) throw new UsageError(`--fou: ${fou.error.reason}`);
    options.fouPorts = fou.value;
  }
  return options;
}

/** Below this size a capture decodes in well under a second: starting worker threads would not pay. */
const PARALLEL_MIN_BYTES = 16 << 20;

export const decodeCommand = defineCommand({
  name: 'decode',
  summary: 'print one line (or one JSON object) per packet of a pcap or pcapng file',
  usage: 'FILE',
  description:
    'Prints one line per packet of a pcap or pcapng file, given as FILE or, as tcpdump takes it, -r FILE ("-" reads ' +
    'standard input): number, time, interface and direction (In, Out, B, M, P) of `tcpdump -i any` captures, addresses, ' +
    'protocol stack, lengths, IP flags (DF, MF, fragment offset; the protocol of fragments after the first), ICMP type ' +
    'and MTU, neighbor discovery and ARP messages, TCP flags. A bad checksum is flagged; one that holds only the ' +
    'pseudo-header sum was left to the NIC (checksum offload: the capture was taken before the NIC completed it) and is ' +
    'said to be "not verifiable (offload)". An IP packet longer than the link can carry is marked as a GSO/GRO ' +
    'super-packet (see --link-mtu). Output reaches a terminal line by line; through a pipe it is buffered, and written ' +
    'whenever the input pauses, so `tcpdump -U -w - | mtuscope decode -` shows packets as they arrive.',
  options: {
    read: { type: 'string', short: 'r', value: 'FILE', description: 'the capture to read ("-": standard input), instead of FILE' },
    json: { type: 'boolean', description: 'one JSON object per packet instead of text' },
    'vxlan-port': { type: 'string', value: 'PORT,...', default: String(VXLAN_PORT), description: 'UDP ports decoded as VXLAN' },
    'gue-port': { type: 'string', value: 'PORT,...', default: String(GUE_PORT), description: 'UDP ports decoded as GUE' },
    fou: { type: 'string', value: 'PORT:PROTO,...', description: 'UDP ports decoded as Foo-over-UDP carrying IP protocol PROTO (4 or 41)' },
    'link-mtu': {
      type: 'string',
      value: 'N',
      defaultText: `unknown: only IP packets above ${LARGEST_COMMON_MTU} bytes, the largest common MTU, are marked; never on loopback`,
      description: 'the largest MTU of the captured links: longer IP packets are marked as GSO/GRO super-packets',
    },
    count: { type: 'string', short: 'c', value: 'N', description: 'stop after N packets' },
    threads: {
      type: 'string',
      value: 'N',
      defaultText: `the cores available for a capture file of ${PARALLEL_MIN_BYTES >> 20} MB or more, 1 otherwise`,
      description: 'decode on N threads, the main one and N-1 workers; the output is the same, in packet order',
    },
    numeric: { type: 'boolean', short: 'n', description: 'accepted as tcpdump takes it (-nr FILE): addresses and ports are always numbers' },
  },
  positionals: { min: 0, max: 1 },
  notes:
    'Exit status: 0 when the whole file was read, 1 when the file is malformed (the message gives the byte offset; ' +
    'packets before it are printed), 2 for a usage error. tcpdump buffers what it writes to a pipe unless given -U.',
  run: ({ values, positionals }) => decode(captureFile(values.read, positionals[0]), values),
});

function captureFile(read: string | undefined, positional: string | undefined): string {
  if (read !== undefined && positional !== undefined) throw new UsageError(`give the capture once, as FILE or as -r FILE, not both ("${read}" and "${positional}")`);
  const file = read ?? positional;
  if (file === undefined) throw new UsageError('expected FILE or -r FILE, got nothing');
  return file;
}

function wholeNumber(option: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  const range = max < Number.MAX_SAFE_INTEGER ? ` from ${min} to ${max}` : '';
  if (!/^\d+$/.test(text) || n < min || n > max) throw new UsageError(`${option}: "${text}" is not a whole number${range}`);
  return n;
}

/** What the input is, as far as decoding it goes; undefined fields when it cannot be looked at (reading will say why). */
interface InputKind {
  /**
   * A pipe, socket or terminal, given as "-" or by path (a FIFO): something that may pause, after which the packets
   * decoded so far should be shown. A regular file never pauses.
   */
  readonly live: boolean;
  /** The size of a regular file given by path. */
  readonly fileBytes: number | undefined;
}

function inputKind(file: string): InputKind {
  try {
    const stat = file === '-' ? fstatSync(0) : statSync(file);
    const live = stat.isFIFO() || stat.isSocket() || stat.isCharacterDevice();
    return { live, fileBytes: file !== '-' && stat.isFile() ? stat.size : undefined };
  } catch {
    // Reading will say what is wrong with it.
    return { live: false, fileBytes: undefined };
  }
}

/** How many threads decode a capture: --threads N, or by default one per core for a large file, one otherwise. */
function threadsFor(text: string | undefined, input: InputKind): number {
  const given = wholeNumber('--threads', text, 1, 64);
  if (given !== undefined) return given;
  return input.fileBytes !== undefined && input.fileBytes >= PARALLEL_MIN_BYTES ? Math.max(1, availableParallelism()) : 1;
}

async function decode(
  file: string,
  values: {
    json: boolean;
    count: string | undefined;
    threads: string | undefined;
    'link-mtu': string | undefined;
    'vxlan-port': string;
    'gue-port': string;
    fou: string | undefined;
  },
): Promise<number> {
  const limit = wholeNumber('--count', values.count, 0, Number.MAX_SAFE_INTEGER) ?? Infinity;
  const linkMtu = wholeNumber('--link-mtu', values['link-mtu'], 68, 65536);
  const format: LineFormat = { json: values.json, decode: decodeOptionsFrom(values), summary: linkMtu === undefined ? {} : { linkMtu } };
  const source = file === '-' ? process.stdin : file;
  const input = inputKind(file);
  const live = input.live;
  const threads = threadsFor(values.threads, input);
  const out = new LineOutput();
  const parallel = threads > 1 ? new ParallelDecode(threads, format, out) : undefined;
  let n = 0;
  try {
    outer: for await (const batch of readCaptureBatches(source)) {
      if (parallel !== undefined) {
        const take = Math.min(batch.length, limit - n);
        if (take > 0) await parallel.decode(n + 1, take === batch.length ? batch : batch.slice(0, take));
        n += take;
        if (out.closed || n >= limit) break;
        if (live) await parallel.drain();
        continue;
      }
      for (const pkt of batch) {
        if (n >= limit) break outer;
        n++;
        const full = out.write(packetLine(n, pkt, format));
        if (full) await full;
      }
      if (out.closed) break;
      // A batch is all the input had ready: from a live input, show it before waiting for more.
      if (live) await out.flush();
    }
  } catch (err) {
    await parallel?.finish();
    await out.flush();
    if (err instanceof CaptureError) throw new CommandFailure(`${file}: ${err.message}`);
    if (isNodeError(err) && (err.code === 'ENOENT' || err.code === 'EACCES' || err.code === 'EISDIR')) throw new CommandFailure(`${file}: ${err.message}`);
    throw err;
  }
  await parallel?.finish();
  await out.flush();
  return 0;
}

function isNodeError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && 'code' in err;
}
