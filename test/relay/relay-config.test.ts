/**
 * `mtuscope relay --config FILE` read into the relay's options (relayOptionsFrom), without running a relay: what the
 * file sets, what flags override, and the mistakes it must name by file and line.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseInvocation, UsageError } from '../../src/cli/command.js';
import { relayCommand, relayOptionsFrom, type RelayOptions } from '../../src/cli/relay-command.js';
import { formatCidr } from '../../src/packet/cidr.js';

const dir = mkdtempSync(join(tmpdir(), 'mtuscope-relay-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function configFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

function options(args: readonly string[]): RelayOptions {
  return relayOptionsFrom(parseInvocation(relayCommand, args).values);
}

describe('relay --config', () => {
  it('takes the settings of the file, and a flag given with another value over the file\'s', () => {
    const file = configFile('good.yaml', 'mode: owner\nserved:\n  - 10.99.0.1\n  - fd00:99::/64\nflow-rate: 6\ndry-run: true\nmetrics: 127.0.0.1:9361\n');
    const o = options(['--config', file]);
    assert.equal(o.mode, 'owner');
    assert.deepEqual(o.served.map(formatCidr), ['10.99.0.1/32', 'fd00:99::/64']);
    assert.equal(o.flowRate, 6);
    assert.equal(o.dryRun, true);
    assert.deepEqual(o.metrics, { host: '127.0.0.1', port: 9361 });
    assert.equal(options(['--config', file, '--flow-rate', '5']).flowRate, 5);
    assert.deepEqual(options(['--config', file, '--served', '10.98.0.0/24']).served.map(formatCidr), ['10.98.0.0/24']);
  });

  it('refuses cleanup in a file, naming file and line: it is what the command does, not a setting, and was ignored', () => {
    const file = configFile('cleanup.yaml', 'served: [10.99.0.1]\ncleanup: true\n');
    assert.throws(
      () => options(['--config', file]),
      (err: unknown) => err instanceof UsageError && err.message.startsWith(`${file}:2: unknown setting "cleanup"`) && !/settings are [^;]*\bcleanup\b/.test(err.message),
    );
  });

  it('names file and line of an unknown setting and of a bad value', () => {
    const unknown = configFile('unknown.yaml', 'served: [10.99.0.1]\n\nflow-rte: 4\n');
    assert.throws(() => options(['--config', unknown]), (err: unknown) => err instanceof UsageError && err.message.startsWith(`${unknown}:3: unknown setting "flow-rte"`));
    const bad = configFile('bad.yaml', 'served: [10.99.0.1]\nrouter-rate: fast\n');
    assert.throws(() => options(['--config', bad]), (err: unknown) => err instanceof UsageError && err.message.startsWith(`${bad}:2: router-rate: "fast"`));
  });
});
