import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import type { CaptureEncoder, PacketToWrite } from './capture-encoder.js';
import { PcapEncoder, type PcapEncoderOptions } from './pcap-encoder.js';
import { PcapngEncoder, type PcapngEncoderOptions } from './pcapng-encoder.js';

export type CaptureWriterOptions = ({ readonly format: 'pcap' } & PcapEncoderOptions) | ({ readonly format: 'pcapng' } & PcapngEncoderOptions);

/** Records are gathered into writes of about this size: a stream write per packet costs more than the packet. */
const BUFFER_BYTES = 256 * 1024;

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Streams a capture file: encoded records are gathered in a buffer and handed to the stream in large
 * writes. write() resolves at once while the stream accepts data and waits for 'drain' when it pushes
 * back, so awaiting each write() keeps memory bounded. Records reach the stream in call order even if
 * write() is not awaited.
 */
export class CaptureWriter {
  private buffer: Uint8Array;
  private used = 0;
  private failure: Error | undefined;
  private closed = false;

  constructor(
    private readonly stream: NodeJS.WritableStream,
    readonly encoder: CaptureEncoder,
    /** End the stream on close() (a stream the writer opened itself); a caller's stream stays open. */
    private readonly ownsStream = false,
  ) {
    stream.on('error', (err: Error) => {
      this.failure ??= err;
    });
    const header = encoder.fileHeader();
    this.buffer = new Uint8Array(Math.max(BUFFER_BYTES, header.length));
    this.buffer.set(header);
    this.used = header.length;
  }

  write(packet: PacketToWrite): Promise<void> {
    try {
      if (this.failure !== undefined) return Promise.reject(this.failure);
      if (this.closed) throw new Error('CaptureWriter.write after close');
      const n = this.encoder.encodedLength(packet);
      if (this.used + n <= this.buffer.length) {
        this.used = this.encoder.encodePacket(packet, this.buffer, this.used);
        return RESOLVED;
      }
      const pending = this.takeBuffer();
      if (n > this.buffer.length) {
        const own = new Uint8Array(n);
        this.encoder.encodePacket(packet, own, 0);
        return Promise.all([this.send(pending), this.send(own)]).then(() => undefined);
      }
      this.used = this.encoder.encodePacket(packet, this.buffer, 0);
      return this.send(pending);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Writes what is buffered and, for a stream the writer opened, ends it and waits until it is closed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.failure !== undefined) throw this.failure;
    const rest = this.takeBuffer();
    if (this.ownsStream) {
      if (rest.length > 0) this.stream.write(rest);
      this.stream.end();
      await finished(this.stream);
    } else if (rest.length > 0) {
      await new Promise<void>((resolve, reject) => {
        this.stream.write(rest, (err?: Error | null) => (err ? reject(err) : resolve()));
      });
    }
    if (this.failure !== undefined) throw this.failure;
  }

  /** The buffered bytes; the buffer is replaced since the stream may still hold the old one. */
  private takeBuffer(): Uint8Array {
    const out = this.buffer.subarray(0, this.used);
    this.buffer = new Uint8Array(BUFFER_BYTES);
    this.used = 0;
    return out;
  }

  private send(chunk: Uint8Array): Promise<void> {
    if (chunk.length === 0 || this.stream.write(chunk)) return RESOLVED;
    return once(this.stream as NodeJS.EventEmitter, 'drain').then(() => undefined);
  }
}

export function captureEncoder(options: CaptureWriterOptions): CaptureEncoder {
  return options.format === 'pcap' ? new PcapEncoder(options) : new PcapngEncoder(options);
}

/** A writer to a new file at `target` (created or truncated), or to a caller's stream such as stdout. */
export function openCaptureWriter(target: string | NodeJS.WritableStream, options: CaptureWriterOptions): CaptureWriter {
  const encoder = captureEncoder(options);
  if (typeof target === 'string') return new CaptureWriter(createWriteStream(target), encoder, true);
  return new CaptureWriter(target, encoder, false);
}
