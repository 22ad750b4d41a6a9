/**
 * The floor under any relay built on the same netfilter queue binding (src/host/packet-queue.ts over native/nfqueue):
 * binds the queue and accepts every packet as it comes, reading nothing. bench/relay runs it in place of the
 * relay, behind rules of its own, to tell the binding's and the kernel's share of the relay's time from the relay's
 * own work.
 *
 *   node dist/bench/relay-floor.js QUEUE_NUM
 *
 * Prints {"event":"started"} once bound; at SIGTERM or SIGINT, {"accepted": N} and exits 0.
 */
import { openPacketQueue } from '../src/host/packet-queue.js';
import { errorMessage } from '../src/util/error-message.js';

const queueNum = Number(process.argv[2]);
if (!Number.isInteger(queueNum) || queueNum < 0 || queueNum > 65535) {
  process.stderr.write(`relay-floor: "${String(process.argv[2])}" is not a queue number\n`);
  process.exit(2);
}
let accepted = 0;
openPacketQueue(
  queueNum,
  (p) => {
    accepted++;
    p.accept();
  },
  (err) => process.stderr.write(`relay-floor: ${errorMessage(err)}\n`),
  // As the relay binds it.
  { verdictThread: true },
);
process.stdout.write('{"event":"started"}\n');
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    process.stdout.write(`${JSON.stringify({ accepted })}\n`);
    // The queue binding cannot be closed.
    process.exit(0);
  });
}
