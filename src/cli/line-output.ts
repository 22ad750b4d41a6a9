/**
 * Where `mtuscope decode` writes its lines. They are encoded into one large buffer, which is written out when it is
 * full: a write per packet, or joining the lines into one string first, costs more than decoding the packet. Two
 * things write it out sooner, so that a live capture is shown as it arrives:
 * - on a terminal every line is written at once (`lineByLine`), since someone is watching;
 * - the caller calls flush() whenever its input goes quiet, which also serves a pipe (`tcpdump -w - | mtuscope
 *   decode - | grep ...`), where lines held back while no packet arrives would be held back indefinitely.
 *
 * When the reader goes away (`mtuscope decode f | head`), `closed` turns true and the decode stops quietly.
 */
export class LineOutput {
  private static readonly SIZE = 1 << 20;
  private buffer: Buffer = Buffer.allocUnsafe(LineOutput.SIZE);
  /** The other buffer, when the stream is done with it: while one is being written, lines go into the other. */
  private spare: Buffer | undefined = Buffer.allocUnsafe(LineOutput.SIZE);
  private used = 0;
  closed = false;

  constructor(
    private readonly stream: NodeJS.WritableStream = process.stdout,
    /** Write every line at once instead of buffering (default: when the stream is a terminal). */
    private readonly lineByLine = 'isTTY' in stream && stream.isTTY === true,
  ) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      this.closed = true;
    });
  }

  /** Returns a promise when the buffer was written out; await it before writing more. */
  write(line: string): Promise<void> | undefined {
    if (this.closed) return undefined;
    // UTF-8 needs at most 3 bytes per UTF-16 code unit. (Line by line, the buffer is empty here.)
    const pending = this.used + line.length * 3 > this.buffer.length ? this.flush() : undefined;
    if (line.length * 3 > this.buffer.length) this.buffer = Buffer.allocUnsafe(line.length * 3);
    this.used += this.buffer.write(line, this.used, 'utf8');
    return this.lineByLine ? this.flush() : pending;
  }

  /** Writes out what the buffer holds; the promise settles when the stream is done with it. */
  flush(): Promise<void> | undefined {
    if (this.used === 0 || this.closed) return undefined;
    const written = this.buffer;
    const full = written.subarray(0, this.used);
    this.buffer = this.spare ?? Buffer.allocUnsafe(LineOutput.SIZE);
    this.spare = undefined;
    this.used = 0;
    return this.send(full, () => {
      if (written.length === LineOutput.SIZE) this.spare = written;
    });
  }

  /**
   * Writes lines already encoded (by another thread, say), after what the buffer holds; the promise settles when the
   * stream is done with them.
   */
  async writeEncoded(lines: Buffer): Promise<void> {
    await this.flush();
    if (lines.length > 0 && !this.closed) await this.send(lines);
  }

  private send(bytes: Buffer, sent?: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.stream.write(bytes, (err) => {
        if (err && (err as NodeJS.ErrnoException).code === 'EPIPE') this.closed = true;
        else if (err) return reject(err);
        sent?.();
        resolve();
      });
    });
  }
}
