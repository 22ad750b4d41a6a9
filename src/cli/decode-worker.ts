// A worker thread of `mtuscope decode` (see parallel-decode.ts): decodes the packets it is sent and sends back their
// lines, encoded, in a buffer of its own that is transferred, not copied.
import { parentPort, workerData } from 'node:worker_threads';
import { unpackPackets } from '../capture/packed-packets.js';
import type { DecodeJob, DecodeJobDone } from './parallel-decode.js';
import { type LineFormat, packetLines } from './packet-line.js';

const format = workerData as LineFormat;
let expected = 1 << 20;

parentPort?.on('message', (job: DecodeJob) => {
  const lines = packetLines(job.first, unpackPackets(job.packets), format, expected);
  // The next batch is likely the size of this one: start with room for it, and a margin.
  expected = Math.ceil(lines.length * 1.25);
  const done: DecodeJobDone = { seq: job.seq, bytes: lines.buffer as ArrayBuffer, length: lines.length };
  parentPort?.postMessage(done, [done.bytes]);
});
