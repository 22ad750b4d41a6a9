/**
 * Reads netfilter queue QUEUE_NUM through src/host/packet-queue.ts inside a lab node, for test/host/packet-queue.test.ts.
 * Each queued packet is an IPv4 UDP datagram whose payload says what to do with it: `drop-NN`, `mark-NN` (accepted with
 * firewall mark MARK), `replace-NN` (accepted with the payload `REPLACE-NN`, UDP checksum 0), `throw-NN` (the reader throws),
 * `slow-NN` (accepted after 200 ms of busy work, so that the datagrams behind it wait in the kernel), anything else
 * accepted. Prints {"batch": N} after each batch the binding delivered (a microtask runs once the batch call returns)
 * and {"error": ...} for each error reported; at SIGTERM, {"packets": N} and exits 0.
 *
 *   node dist/test/support/queue-reader.js QUEUE_NUM MARK
 *
 * A script, not a module: importing it would bind the queue in the importing process.
 */
import { openPacketQueue, type QueuedPacket } from '../../src/host/packet-queue.js';
import { errorMessage } from '../../src/util/error-message.js';

const UDP = 17;

function udpPayloadOffset(bytes: Uint8Array): number | undefined {
  if (bytes.length < 28 || bytes[0] === undefined || bytes[0] >> 4 !== 4 || bytes[9] !== UDP) return undefined;
  return (bytes[0] & 0x0f) * 4 + 8;
}

function decide(p: QueuedPacket, mark: number): void {
  const at = udpPayloadOffset(p.bytes);
  if (at === undefined) return;
  const text = Buffer.from(p.bytes.subarray(at)).toString('latin1');
  if (text.startsWith('drop-')) p.drop();
  else if (text.startsWith('mark-')) p.acceptMarked(mark);
  else if (text.startsWith('throw-')) throw new Error(`reader threw on ${text}`);
  else if (text.startsWith('replace-')) {
    const copy = Uint8Array.from(p.bytes);
    copy.set(Buffer.from(text.toUpperCase(), 'latin1'), at);
    copy[at - 2] = 0;
    copy[at - 1] = 0;
    p.replace(copy);
  } else if (text.startsWith('slow-')) {
    const until = performance.now() + 200;
    while (performance.now() < until) {
      // Busy on purpose: the event loop must not turn while the next datagrams arrive.
    }
  }
}

const queueNum = Number(process.argv[2]);
const mark = Number(process.argv[3]);
if (!Number.isInteger(queueNum) || queueNum < 0 || queueNum > 65535 || !Number.isInteger(mark) || mark <= 0) {
  process.stderr.write('usage: queue-reader QUEUE_NUM MARK\n');
  process.exit(2);
}
let packets = 0;
let inBatch = 0;
openPacketQueue(
  queueNum,
  (p) => {
    packets++;
    if (inBatch++ === 0) {
      queueMicrotask(() => {
        process.stdout.write(`${JSON.stringify({ batch: inBatch })}\n`);
        inBatch = 0;
      });
    }
    decide(p, mark);
  },
  (err) => process.stdout.write(`${JSON.stringify({ error: errorMessage(err) })}\n`),
);
process.stdout.write('{"event":"bound"}\n');
process.on('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify({ packets })}\n`);
  // The queue binding cannot be closed.
  process.exit(0);
});
