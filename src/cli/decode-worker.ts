// A worker thread of `mtuscope decode` (see parallel-decode.ts): decodes the packets it is sent and sends back their
// lines, encoded, in a buffer of its own that is transferred, not copied.
import { parentPort, workerData } from 'node:worker_threads';
import { unpackPackets } from '../capture/packed-packets.js';
import type { DecodeJob, DecodeJobDone } from './parallel-decode.js';
import { LineBatches, type LineFormat } from './packet-line.js';

const batches = new LineBatches(workerData as LineFormat);

parentPort?.on('message', (job: DecodeJob) => {
  const lines = batches.lines(job.first, unpackPackets(job.packets));
  const done: DecodeJobDone = { seq: job.seq, bytes: lines.buffer as ArrayBuffer, length: lines.length };
  parentPort?.postMessage(done, [done.bytes]);
});
