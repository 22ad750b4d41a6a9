/**
 * The checker service as `mtuscope serve` runs it (its options, packet engine, results store and HTTP server), except
 * that the report renderer throws for the first FAILURES text answers: the harness of "no request can stop the
 * service". Run inside a lab node: `node failing-renderer-service.js FAILURES [serve options...]`; SIGTERM ends it.
 */
import { renderTextReport } from '../../src/checker/report-text.js';
import { parseInvocation } from '../../src/cli/command.js';
import { serveCommand, serveOptionsFrom, startService } from '../../src/cli/serve-command.js';

export const INJECTED_FAILURE = 'injected renderer failure';

const [failures, ...argv] = process.argv.slice(2);
let failuresLeft = Number(failures);
if (!Number.isInteger(failuresLeft)) throw new Error('usage: failing-renderer-service.js FAILURES [serve options...]');
const service = await startService(serveOptionsFrom(parseInvocation(serveCommand, argv).values), {
  log: (line) => process.stderr.write(`harness: ${line}\n`),
  renderReport: (result) => {
    if (failuresLeft > 0) {
      failuresLeft--;
      throw new Error(INJECTED_FAILURE);
    }
    return renderTextReport(result);
  },
});
process.stderr.write(`harness: listening on ${service.listening.join(' ')}\n`);
await new Promise((resolve) => process.once('SIGTERM', resolve));
await service.stop();
