import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { ESLint } from 'eslint';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

// The project's own ESLint configuration, without type information: the files linted here exist only in memory.
const eslint = new ESLint({
  cwd: ROOT,
  overrideConfig: [
    {
      files: ['**/*.ts'],
      languageOptions: { parserOptions: { projectService: false, project: null } },
      rules: { '@typescript-eslint/no-unnecessary-type-assertion': 'off' },
    },
  ],
});

async function layeringErrors(filePath: string, code: string): Promise<string[]> {
  return (await importErrors(filePath, code)).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

async function importErrors(filePath: string, code: string): Promise<ESLint.LintResult['messages']> {
  const [result] = await eslint.lintText(code, { filePath });
  assert.ok(result !== undefined);
  assert.deepEqual(
    result.messages.filter((m) => m.fatal === true),
    [],
    'the code must parse',
  );
  return result.messages.filter((m) => m.ruleId === 'no-restricted-imports' || m.ruleId === '@typescript-eslint/no-restricted-imports');
}

describe('the layering rule', () => {
  it('rejects a pure area importing what touches the host', async () => {
    const errors = await layeringErrors('src/packet/wrong-way.ts', "import { runCommand } from '../host/process-runner.js';\nexport const run = runCommand;\n");
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /src\/packet\/ is pure logic/);
  });

  it('rejects a Node module that reaches the host from a pure area', async () => {
    const errors = await layeringErrors('src/frag/wrong-way.ts', "import { createSocket } from 'node:dgram';\nexport const open = createSocket;\n");
    assert.equal(errors.length, 1);
  });

  it('rejects a host area importing an area it may not (lab -> engine), also from a subfolder', async () => {
    const errors = await layeringErrors('src/lab/scenarios/wrong-way.ts', "import { PacketEngine } from '../../engine/packet-engine.js';\nexport const engine = PacketEngine;\n");
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /src\/lab\/ may import only/);
  });

  it('holds verdict files of a host area to the rules of pure logic', async () => {
    const errors = await layeringErrors('src/checker/icmp-verdict.ts', "import { EngineClient } from '../engine/engine-client.js';\nexport const client = EngineClient;\n");
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /pure decisions/);
  });

  it('accepts the allowed directions', async () => {
    assert.deepEqual(await layeringErrors('src/lab/right-way.ts', "import { decodeFrame } from '../packet/frame.js';\nexport const decode = decodeFrame;\n"), []);
    assert.deepEqual(await layeringErrors('src/checker/right-way.ts', "import { runCommand } from '../host/process-runner.js';\nexport const run = runCommand;\n"), []);
    assert.deepEqual(await layeringErrors('src/capture/right-way.ts', "import { open } from 'node:fs/promises';\nexport const openFile = open;\n"), []);
  });

  it('lets browser code import types only: anything else would have to be loaded by the browser', async () => {
    const page = 'src/checker/page/wrong-way.ts';
    const runtime = await importErrors(page, "import { escapeHtml } from '../escape-html.js';\nexport const escape = escapeHtml;\n");
    assert.equal(runtime.length, 1);
    assert.match(runtime[0]!.message, /browser code is served as a few files/);
    assert.equal((await importErrors(page, "import { readFileSync } from 'node:fs';\nexport const read = readFileSync;\n")).length, 1);
    assert.deepEqual(await importErrors(page, "import type { TestResult } from '../test-result.js';\nexport type Shown = TestResult;\n"), []);
    // Its area's directions hold for types too.
    assert.equal((await importErrors(page, "import type { LabSpec } from '../../lab/spec.js';\nexport type Spec = LabSpec;\n")).length, 1);
  });

  it('lets browser code load the chart module it shares with the server, which itself imports types only', async () => {
    assert.deepEqual(await importErrors('src/checker/page/right-way.ts', "import { timelineChart } from '../timeline-chart.js';\nexport const chart = timelineChart;\n"), []);
    const chart = await importErrors('src/checker/timeline-chart.ts', "import { escapeHtml } from './escape-html.js';\nexport const escape = escapeHtml;\n");
    assert.equal(chart.length, 1);
    assert.match(chart[0]!.message, /browser code/);
    assert.deepEqual(await importErrors('src/checker/timeline-chart.ts', "import type { TestResult } from './test-result.js';\nexport type Shown = TestResult;\n"), []);
  });
});
