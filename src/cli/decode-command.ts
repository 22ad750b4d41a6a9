import { CaptureError } from '../capture/capture-error.js';
import { readCaptureBatches } from '../capture/reader.js';
import { type DecodeOptions, decodeFrame } from '../packet/frame.js';
import { parseFouPortMap } from '../packet/fou.js';
import { GUE_PORT } from '../packet/gue.js';
import { VXLAN_PORT } from '../packet/vxlan.js';
import { packetJson } from './packet-json.js';
import { packetSummary } from './packet-summary.js';
import { CommandFailure, defineCommand, UsageError } from './command.js';

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

export const decodeCommand = defineCommand({
  name: 'decode',
  summary: 'print one line (or one JSON object) per packet of a pcap or pcapng file',
  usage: 'FILE',
  description:
    'Prints one line per packet of a pcap or pcapng file (FILE "-" reads standard input): number, time, addresses, ' +
    'protocol stack, lengths, IP flags (DF, MF, fragment offset), ICMP type and MTU, TCP flags.',
  options: {
    json: { type: 'boolean', description: 'one JSON object per packet instead of text' },
    'vxlan-port': { type: 'string', value: 'PORT,...', default: String(VXLAN_PORT), description: 'UDP ports decoded as VXLAN' },
    'gue-port': { type: 'string', value: 'PORT,...', default: String(GUE_PORT), description: 'UDP ports decoded as GUE' },
    fou: { type: 'string', value: 'PORT:PROTO,...', description: 'UDP ports decoded as Foo-over-UDP carrying IP protocol PROTO (4 or 41)' },
    count: { type: 'string', short: 'c', value: 'N', description: 'stop after N packets' },
  },
  positionals: { min: 1, max: 1 },
  notes:
    'Exit status: 0 when the whole file was read, 1 when the file is malformed (the message gives the byte offset; ' +
    'packets before it are printed), 2 for a usage error.',
  run: ({ values, positionals }) => decode(positionals[0]!, values),
});

async function decode(file: string, values: { json: boolean; count: string | undefined; 'vxlan-port': string; 'gue-port': string; fou: string | undefined }): Promise<number> {
  let limit = Infinity;
  if (values.count !== undefined) {
    limit = Number(values.count);
    if (!/^\d+$/.test(values.count) || !Number.isSafeInteger(limit)) throw new UsageError(`--count: "${values.count}" is not a whole number`);
  }
  const options = decodeOptionsFrom(values);
  const source = file === '-' ? process.stdin : file;
  const out = new BufferedStdout();
  let n = 0;
  try {
    outer: for await (const batch of readCaptureBatches(source)) {
      for (const pkt of batch) {
        if (n >= limit) break outer;
        n++;
        const frame = decodeFrame(pkt.linkType, pkt.data, pkt.originalLength, options);
        const full = out.write(values.json ? packetJson(n, pkt, frame) : packetSummary(n, pkt, frame));
        if (full) await full;
      }
      if (out.closed) break;
    }
  } catch (err) {
    await out.flush();
    if (err instanceof CaptureError) throw new CommandFailure(`${file}: ${err.message}`);
    if (isNodeError(err) && (err.code === 'ENOENT' || err.code === 'EACCES' || err.code === 'EISDIR')) throw new CommandFailure(`${file}: ${err.message}`);
    throw err;
  }
  await out.flush();
  return 0;
}

function isNodeError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && 'code' in err;
}

/**
 * Lines are encoded into one large buffer and written when it is full: a write per packet, or joining
 * the lines into one string first, costs more than decoding the packet. When the reader goes away
 * (`mtuscope decode f | head`), `closed` turns true and the decode stops quietly.
 */
class BufferedStdout {
  private static readonly SIZE = 1 << 20;
  private buffer = Buffer.allocUnsafe(BufferedStdout.SIZE);
  private used = 0;
  closed = false;

  constructor() {
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      this.closed = true;
    });
  }

  /** Returns a promise only when the buffer was full and had to be written out. */
  write(line: string): Promise<void> | undefined {
    if (this.closed) return undefined;
    // UTF-8 needs at most 3 bytes per UTF-16 code unit.
    const pending = this.used + line.length * 3 > this.buffer.length ? this.flush() : undefined;
    if (line.length * 3 > this.buffer.length) this.buffer = Buffer.allocUnsafe(line.length * 3);
    this.used += this.buffer.write(line, this.used, 'utf8');
    return pending;
  }

  flush(): Promise<void> | undefined {
    if (this.used === 0 || this.closed) return undefined;
    const full = this.buffer.subarray(0, this.used);
    this.buffer = Buffer.allocUnsafe(this.buffer.length);
    this.used = 0;
    return new Promise<void>((resolve, reject) => {
      process.stdout.write(full, (err) => {
        if (err && (err as NodeJS.ErrnoException).code === 'EPIPE') this.closed = true;
        else if (err) return reject(err);
        resolve();
      });
    });
  }
}
