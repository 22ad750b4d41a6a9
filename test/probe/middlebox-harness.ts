/**
 * Runs one middlebox trace inside a lab node (the lab test starts it with lab.exec) and prints the report as JSON on
 * the first line, then the text section: `node middlebox-harness.js <4|6> <target> [dstPort]`. Until `mtuscope probe`
 * calls traceMiddleboxes itself, this is the way a test drives it on real kernels.
 */
import { traceMiddleboxes } from '../../src/probe/middlebox-run.js';
import { middleboxText } from '../../src/probe/middlebox-text.js';
import { ProbeTransport } from '../../src/probe/probe-transport.js';

const [familyText, target, port] = process.argv.slice(2);
const family = familyText === '6' ? 6 : 4;
const transport = ProbeTransport.open();
try {
  const report = await traceMiddleboxes(transport, { address: target!, family }, { maxHops: 8, replyTimeoutMs: 500, triesPerHop: 2, timeLimitMs: 10_000, ...(port === undefined ? {} : { dstPort: Number(port) }) });
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.stdout.write(middleboxText(report));
} finally {
  transport.close();
}
