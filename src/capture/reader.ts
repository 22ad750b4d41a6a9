import { open } from 'node:fs/promises';
import { CaptureDecoder } from './capture-decoder.js';
import type { CapturedPacket, PacketSink } from './captured-packet.js';

/** Large reads mean large batches: the per-batch async hop is then negligible per packet. */
const FILE_CHUNK_BYTES = 1 << 20;
/**
 * The reads of readCapturePackets, which keeps no batch: each read costs an asynchronous hop, whose wait the analyzer's
 * profile shows as idle, about 80 us a read here (1.2 GB in 1 MiB reads: 95-128 ms idle; 2 MiB: 31-51 ms; 4 MiB: 20-30
 * ms, for 2 MiB more of buffers again). Batches stay at 1 MiB: `decode` hands each to a worker, and holds several.
 */
export const SINK_CHUNK_BYTES = 1 << 21;
/**
 * Where in its buffer each chunk is read to: not at the buffer's page-aligned start. On the project's machines (AMD
 * EPYC) the kernel copied cached file pages into a page-aligned buffer at a fifth of the speed: 1.2 GB in 0.58-0.74 s
 * in reads of 256 KiB or more, against 0.12-0.15 s at any offset from 16 to 4032 (the alignment penalties of `rep
 * movsb` on AMD cores). That copy was a sixth of `mtuscope analyze`'s time on a large file.
 */
const READ_OFFSET = 2048;

function bytesOf(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError(`capture stream yielded ${typeof chunk === 'string' ? 'text (was setEncoding called?)' : typeof chunk}, not bytes`);
}

/**
 * Reads a pcap or pcapng file (format sniffed from the magic number) from a path or a byte stream such
 * as process.stdin, yielding the packets of each chunk read as one array. Memory stays constant: only
 * the current chunk and at most one record that straddles two chunks are held. Packets' `data` views
 * the chunk, which a file's next chunk is read into: copy it to keep it beyond the batch.
 *
 * A malformed or truncated file yields every packet before the bad spot, then throws a CaptureError
 * whose offset is the start of the offending header, record or block. I/O errors (ENOENT ...) are
 * thrown as they are.
 */
export async function* readCaptureBatches(source: string | AsyncIterable<unknown>): AsyncGenerator<CapturedPacket[]> {
  const decoder = new CaptureDecoder();
  for await (const chunk of typeof source === 'string' ? fileChunks(source) : source) {
    const batch: CapturedPacket[] = [];
    const error = decoder.push(bytesOf(chunk), batch);
    if (batch.length > 0) yield batch;
    if (error !== undefined) throw error;
  }
  const error = decoder.finish();
  if (error !== undefined) throw error;
}

/**
 * readCaptureBatches for a consumer that handles each packet as it is parsed (`sink.push`), without the batch: a
 * batch keeps every packet of a read chunk alive until its last one is handled, so the scavenges that come meanwhile
 * copy them all. Resolves at the end of the input; rejects as readCaptureBatches throws, after the packets before the
 * damage went to the sink.
 */
export async function readCapturePackets(source: string | AsyncIterable<unknown>, sink: PacketSink): Promise<void> {
  const decoder = new CaptureDecoder();
  for await (const chunk of typeof source === 'string' ? fileChunks(source, SINK_CHUNK_BYTES) : source) {
    const error = decoder.push(bytesOf(chunk), sink);
    if (error !== undefined) throw error;
  }
  const error = decoder.finish();
  if (error !== undefined) throw error;
}

/**
 * A file's bytes, chunk by chunk, read into two buffers in turn: the next chunk is read into one while the caller works
 * on the other, so a chunk holds its bytes only until the caller asks for the next one. A stream's fresh buffer per
 * chunk lived until the next full garbage collection, which on a long file held some twenty of them at once
 * (bench/analyze's peak RSS).
 */
export async function* fileChunks(path: string, chunkBytes = FILE_CHUNK_BYTES): AsyncGenerator<Uint8Array> {
  const file = await open(path, 'r');
  let filling = new Uint8Array(READ_OFFSET + chunkBytes).subarray(READ_OFFSET);
  let spare = new Uint8Array(READ_OFFSET + chunkBytes).subarray(READ_OFFSET);
  let next = file.read(filling, 0, chunkBytes, null);
  try {
    for (;;) {
      const { bytesRead } = await next;
      if (bytesRead === 0) return;
      const full = filling;
      filling = spare;
      spare = full;
      next = file.read(filling, 0, chunkBytes, null);
      yield full.subarray(0, bytesRead);
    }
  } finally {
    // A read still under way (the caller stopped early) must end before the file is closed.
    await next.catch(() => undefined);
    await file.close();
  }
}

/** One packet at a time; convenient where speed does not matter (each packet costs an async step). */
export async function* readCapture(source: string | NodeJS.ReadableStream): AsyncGenerator<CapturedPacket> {
  for await (const batch of readCaptureBatches(source)) yield* batch;
}

/** Every packet of a capture, with data copied out of the chunks. For tests and small files. */
export async function readCaptureFile(source: string | NodeJS.ReadableStream): Promise<CapturedPacket[]> {
  const out: CapturedPacket[] = [];
  for await (const batch of readCaptureBatches(source)) {
    for (const p of batch) out.push({ ...p, data: p.data.slice() });
  }
  return out;
}
