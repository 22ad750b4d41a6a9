import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseInvocation, UsageError } from '../../src/cli/command.js';
import { RELAY_DEFAULTS, relayCommand, relayOptionsFrom, type RelayOptions } from '../../src/cli/relay-command.js';
import { formatCidr } from '../../src/packet/cidr.js';

const dir = mkdtempSync(join(tmpdir(), 'mtuscope-relay-options-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function options(...args: string[]): RelayOptions {
  const invocation = parseInvocation(relayCommand, args);
  return relayOptionsFrom(invocation.values, invocation.explicit);
}

function config(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function usageError(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof UsageError && message.test(err.message));
}

describe('mtuscope relay options', () => {
  it('takes served prefixes and bare addresses, peers and the defaults', () => {
    const o = options('--served', '10.99.0.1', '--served', '2001:db8:99::/48', '--peer', '10.0.4.2');
    assert.deepEqual(o.served.map(formatCidr), ['10.99.0.1/32', '2001:db8:99::/48']);
    assert.deepEqual(o.peers, ['10.0.4.2']);
    assert.equal(o.mode, 'auto');
    assert.equal(o.port, RELAY_DEFAULTS.port);
    assert.equal(o.dedupMs, RELAY_DEFAULTS.dedupMs);
    assert.equal(o.json, false);
  });

  it('refuses to run without a served address, and names a bad one', () => {
    usageError(() => options(), /--served: give the served/);
    usageError(() => options('--served', '10.99.0'), /--served: "10\.99\.0" is not an IPv4 or IPv6 address or prefix/);
    usageError(() => options('--served', '10.99.0.1', '--peer', 'server2'), /--peer: "server2" is not an IPv4 or IPv6 address/);
    usageError(() => options('--served', '10.99.0.1', '--mode', 'flood'), /--mode: "flood" is not one of auto, owner, broadcast/);
    usageError(() => options('--served', '10.99.0.1', '--metrics', 'localhost:9'), /--metrics: "localhost:9" is not ADDR:PORT/);
    usageError(() => options('--served', '10.99.0.1', '--router-rate', '0'), /--router-rate: "0" is not an integer from 1/);
  });

  it('reads the same settings from a YAML file, and flags override it', () => {
    const path = config('ok.yaml', 'mode: broadcast\nserved: [10.99.0.1, fd00:99::1]\npeers:\n  - 10.0.4.2\n  - fd00:0:0:4::2\nport: 9000\nrouter-rate: 50\njson: true\nmetrics: "[::1]:9361"\n');
    const o = options('--config', path);
    assert.equal(o.mode, 'broadcast');
    assert.deepEqual(o.served.map(formatCidr), ['10.99.0.1/32', 'fd00:99::1/128']);
    assert.deepEqual(o.peers, ['10.0.4.2', 'fd00:0:0:4::2']);
    assert.equal(o.port, 9000);
    assert.equal(o.routerRate, 50);
    assert.equal(o.json, true);
    assert.deepEqual(o.metrics, { host: '::1', port: 9361 });
    const over = options('--config', path, '--port', '9100', '--mode', 'owner', '--served', '10.98.0.0/24');
    assert.equal(over.port, 9100);
    assert.equal(over.mode, 'owner');
    assert.deepEqual(over.served.map(formatCidr), ['10.98.0.0/24']);
    // A flag written with its default value still overrides the file.
    assert.equal(options('--config', path, '--port', String(RELAY_DEFAULTS.port), '--mode', 'auto').port, RELAY_DEFAULTS.port);
    assert.equal(options('--config', path, '--mode', 'auto').mode, 'auto');
  });

  it('names the file and line of a bad setting in a config file', () => {
    usageError(() => options('--config', config('key.yaml', 'served: [10.99.0.1]\nrouter_rate: 5\n')), /key\.yaml:2: unknown setting "router_rate"; the settings are/);
    usageError(() => options('--config', config('prefix.yaml', 'served:\n  - 10.99.0.1\n  - 10.99.0.300\n')), /prefix\.yaml:3: "10\.99\.0\.300" is not an IPv4 or IPv6 address or prefix/);
    usageError(() => options('--config', config('rate.yaml', 'served: [10.99.0.1]\nflow-rate: fast\n')), /rate\.yaml:2: flow-rate: "fast" is not an integer/);
    usageError(() => options('--config', config('list.yaml', '- 10.99.0.1\n')), /list\.yaml:1: the file must be a mapping/);
    usageError(() => options('--config', join(dir, 'missing.yaml')), /--config: cannot read .*missing\.yaml/);
  });

  it('refuses cleanup in a file, naming file and line: it is what the command does, not a setting', () => {
    const file = config('cleanup.yaml', 'served: [10.99.0.1]\ncleanup: true\n');
    assert.throws(
      () => options('--config', file),
      (err: unknown) => err instanceof UsageError && err.message.startsWith(`${file}:2: unknown setting "cleanup"`) && !/settings are [^;]*\bcleanup\b/.test(err.message),
    );
  });
});
