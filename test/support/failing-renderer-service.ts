/**
 * The checker service as `mtuscope serve` runs it (its options, packet engine, results store and HTTP server), except
 * that the report renderer throws for the first FAILURES text answers: the harness of "no request can stop the
 * service". Run inside a lab node: `node failing-renderer-service.js FAILURES [serve options...]`; SIGTERM ends it.
 */
import { CheckerServer } from '../../src/checker/checker-server.js';
import { renderTextReport } from '../../src/checker/report-text.js';
import { ResultsStore } from '../../src/checker/results-store.js';
import { parseServeOptions } from '../../src/checker/serve-options.js';
import { engineSettings } from '../../src/cli/serve-command.js';
import { EngineProcess } from '../../src/engine/engine-client.js';
import { familyOfAddress } from '../../src/packet/ip-family.js';

export const INJECTED_FAILURE = 'injected renderer failure';

const [failures, ...argv] = process.argv.slice(2);
let failuresLeft = Number(failures);
const options = parseServeOptions(argv);
if (!Number.isInteger(failuresLeft) || options === undefined) throw new Error('usage: failing-renderer-service.js FAILURES [serve options...]');
const log = (line: string): void => {
  process.stderr.write(`harness: ${line}\n`);
};

const store = ResultsStore.open(options.storePath);
const families = [...new Set(options.listen.map(familyOfAddress))];
const engine = await EngineProcess.start(engineSettings(options), { queueNum: options.queueNum, mark: options.mark, families }, log);
const server = new CheckerServer({
  options,
  engine,
  store,
  log,
  renderReport: (result) => {
    if (failuresLeft > 0) {
      failuresLeft--;
      throw new Error(INJECTED_FAILURE);
    }
    return renderTextReport(result);
  },
});
log(`listening on ${(await server.listen()).join(' ')}`);
await new Promise((resolve) => process.once('SIGTERM', resolve));
await server.close();
await engine.stop();
store.close();
