/**
 * The sender of bench/relay, run inside the lab's sender node (which plays both the client and the router next to it):
 *
 *   node dist/bench/relay-flood.js learn --client4 A --client6 A6 --flows N
 *       one packet of each known flow toward the served addresses (bench/relay-messages.ts), both families
 *   node dist/bench/relay-flood.js flood --client4 A --client6 A6 --flows N --kind known|unknown --rate R --count C
 *       [--first-number K] [--families 4,6]
 *       C Packets Too Big at R per second, alternating the families given, the flows taken in turn; message i carries
 *       the number K + i, or for a long flood K + (i mod pool), the pool holding at least DEDUP_SPAN_S seconds of
 *       messages (and DISTINCT_UP_TO at least) so that a number comes back only after the relay's de-duplication
 *       window has passed
 *
 * Messages are built before the first is sent and leave through a raw socket in small bursts on a 1 ms timer, the
 * burst catching up with the rate (a late timer does not lower it). Prints {"event":"sending"} when the first leaves,
 * then one JSON line { sent, errors, seconds, pool } and exits. Send errors (ENOBUFS) are counted, never retried.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { RawSender } from '../src/host/raw-sender.js';
import type { FamilyMap, IpFamily } from '../src/packet/ip-family.js';
import { benchMessage, flowPacket, MAX_FLOWS, SERVED, type FlowAddresses } from './relay-messages.js';

const TICK_MS = 1;
/** The relay's de-duplication window is 1 s by default: a pool of this many seconds of messages never repeats within it. */
const DEDUP_SPAN_S = 1.5;
/** Up to this many messages, each one is distinct (a latency phase pairs them by number). */
const DISTINCT_UP_TO = 20_000;

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    client4: { type: 'string' },
    client6: { type: 'string' },
    flows: { type: 'string' },
    kind: { type: 'string', default: 'known' },
    rate: { type: 'string', default: '0' },
    count: { type: 'string', default: '0' },
    'first-number': { type: 'string', default: '0' },
    families: { type: 'string', default: '4,6' },
  },
});

function fail(why: string): never {
  process.stderr.write(`relay-flood: ${why}\n`);
  process.exit(2);
}

const mode = positionals[0];
const flows = Number(values.flows);
if (mode !== 'learn' && mode !== 'flood') fail(`the first argument is learn or flood, not ${String(mode)}`);
if (!Number.isInteger(flows) || flows < 1 || flows > MAX_FLOWS) fail(`--flows ${String(values.flows)} is not a whole number from 1 to ${MAX_FLOWS}`);
const clients: FamilyMap<string> = { 4: values.client4 ?? fail('--client4 is needed'), 6: values.client6 ?? fail('--client6 is needed') };
const addresses = (family: IpFamily): FlowAddresses => ({ client: clients[family], router: clients[family], served: SERVED[family] });

let errors = 0;
const sender = RawSender.open(0, () => errors++);
const countError = (): void => void errors++;

if (mode === 'learn') {
  let sent = 0;
  for (const family of [4, 6] as const) {
    for (let flow = 0; flow < flows; flow++) {
      sender.send(family, flowPacket(addresses(family), flow), SERVED[family]).catch(countError);
      sent++;
      // Small bursts: the router's backlog (1000 packets by default) must not overflow.
      if (flow % 200 === 199) await delay(TICK_MS);
    }
  }
  sender.close();
  process.stdout.write(`${JSON.stringify({ sent, errors })}\n`);
} else {
  const rate = Number(values.rate);
  const count = Number(values.count);
  const firstNumber = Number(values['first-number']);
  const families = values.families.split(',').map(Number) as IpFamily[];
  const known = values.kind === 'known';
  if (values.kind !== 'known' && values.kind !== 'unknown') fail(`--kind ${values.kind} is not known or unknown`);
  if (!(rate > 0) || !Number.isInteger(count) || count < 1 || !Number.isInteger(firstNumber) || firstNumber < 0) fail('--rate, --count and --first-number must be positive');
  if (families.length === 0 || families.some((f) => f !== 4 && f !== 6)) fail(`--families ${values.families} is not a list of 4 and 6`);
  const pool = Math.min(count, Math.max(Math.ceil(rate * DEDUP_SPAN_S), DISTINCT_UP_TO));
  const messages: { family: IpFamily; bytes: Uint8Array }[] = [];
  for (let i = 0; i < pool; i++) {
    const family = families[i % families.length]!;
    messages.push({ family, bytes: benchMessage(addresses(family), Math.floor(i / families.length) % flows, known, firstNumber + i) });
  }
  process.stdout.write('{"event":"sending"}\n');
  let sent = 0;
  const started = performance.now();
  while (sent < count) {
    const due = Math.min(count, Math.floor(((performance.now() - started) / 1000) * rate));
    for (; sent < due; sent++) {
      const m = messages[sent % pool]!;
      sender.send(m.family, m.bytes, SERVED[m.family]).catch(countError);
    }
    if (sent < count) await delay(TICK_MS);
  }
  const seconds = (performance.now() - started) / 1000;
  sender.close();
  process.stdout.write(`${JSON.stringify({ sent, errors, seconds, pool })}\n`);
}
