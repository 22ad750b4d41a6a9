import { mkdtemp } from 'node:fs/promises';
import { it } from 'node:test';
import { TcpPmtuDetector } from '../../src/analyze/tcp-pmtu-detector.js';
import { makePmtuCaptures } from '../support/pmtu-tcp-captures.js';
import { analyzeFile } from './support/analyze-file.js';

it('explore', { timeout: 120_000 }, async () => {
  const dir = await mkdtemp('/tmp/tcpwt/cap-');
  const caps = await makePmtuCaptures(dir);
  console.log(JSON.stringify(caps));
  for (const [phase, file] of Object.entries(caps.files)) {
    const r = await analyzeFile(file, [new TcpPmtuDetector()]);
    console.log(`== ${phase} ${r.packets} packets`);
    for (const f of r.findings) console.log(f.kind, f.severity, f.confidence, f.sentence, '\n   ', JSON.stringify(f.facts), '\n   ', f.displayFilter, '\n   ', f.evidence.map((e) => `${e.frame}:${e.role}`).join(' | '));
  }
});
