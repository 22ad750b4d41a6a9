import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseServeOptions, SERVE_HELP, ServeOptionError, type ServeOptions } from '../../src/checker/serve-options.js';

function parse(argv: readonly string[]): ServeOptions {
  const o = parseServeOptions(argv);
  assert.ok(o !== undefined, 'not --help');
  return o;
}

function rejects(argv: readonly string[], ...mentions: readonly string[]): void {
  assert.throws(
    () => parseServeOptions(argv),
    (err: unknown) => {
      assert.ok(err instanceof ServeOptionError, `a ServeOptionError, got ${String(err)}`);
      for (const m of mentions) assert.ok(err.message.includes(m), `"${err.message}" mentions ${m}`);
      return true;
    },
    argv.join(' '),
  );
}

describe('parseServeOptions', () => {
  it('defaults', () => {
    assert.deepEqual(parse([]), {
      listen: ['0.0.0.0', '::'],
      listenIsDefault: true,
      port: 8080,
      icmpMtu: { 4: 905, 6: 1280 },
      fragmentSize: { 4: 576, 6: 1280 },
      windowMs: 10_000,
      fragWindowMs: 10_000,
      reactionWindowMs: 2000,
      fragRetransmissions: 3,
      fragResponseBytes: 8192,
      storePath: 'data/results.sqlite',
      truncateAddresses: false,
      testRate: { perClient: { perSecond: 30 / 60, burst: 10 }, global: { perSecond: 200, burst: 400 } },
      icmpRate: { perClient: { perSecond: 50, burst: 100 }, global: { perSecond: 5000, burst: 10_000 } },
      fragmentRate: { perClient: { perSecond: 500, burst: 1000 }, global: { perSecond: 50_000, burst: 100_000 } },
      maxConcurrentTests: 256,
      maxBodyBytes: 1 << 20,
      idleTimeoutMs: 30_000,
      queueNum: 8080,
      mark: 0x6d74,
      ipv4Url: undefined,
      ipv6Url: undefined,
    });
  });

  it('the defaults are the ones the help text promises', () => {
    for (const promise of ['default 8080', 'default 905', 'default 1280', 'default 576', 'default 10)', 'default 2)', 'default 3)', 'default 8192', 'default data/results.sqlite', 'default 30)', 'default 200)', 'default 50)', 'default 5000)', 'default 500)', 'default 50000)', 'default 256)', 'default 1048576)', 'default 0x6d74)']) {
      assert.ok(SERVE_HELP.includes(promise), promise);
    }
  });

  it('every flag', () => {
    const o = parse([
      '--listen', '10.0.0.1',
      '--listen', 'fd00::1',
      '--port', '9000',
      '--ipv4-url', 'http://192.0.2.1:9000/ignored/path?q=1',
      '--ipv6-url', 'https://[2001:db8::1]',
      '--ipv4-mtu', '1000',
      '--ipv6-mtu', '1400',
      '--ipv4-fragment-size', '68',
      '--ipv6-fragment-size', '1500',
      '--window', '5',
      '--frag-window', '2.5',
      '--reaction-window', '0.5',
      '--frag-retransmissions', '5',
      '--frag-response-bytes', '4096',
      '--store', '/tmp/x.sqlite',
      '--truncate-addresses',
      '--tests-per-client', '3',
      '--tests-global', '7',
      '--icmp-per-client', '11',
      '--icmp-global', '13',
      '--fragments-per-client', '17',
      '--fragments-global', '19',
      '--max-concurrent', '23',
      '--max-body', '65536',
      '--idle-timeout', '60',
      '--queue-num', '77',
      '--mark', '0x10',
    ]);
    assert.deepEqual(o, {
      listen: ['10.0.0.1', 'fd00::1'],
      listenIsDefault: false,
      port: 9000,
      icmpMtu: { 4: 1000, 6: 1400 },
      fragmentSize: { 4: 68, 6: 1500 },
      windowMs: 5000,
      fragWindowMs: 2500,
      reactionWindowMs: 500,
      fragRetransmissions: 5,
      fragResponseBytes: 4096,
      storePath: '/tmp/x.sqlite',
      truncateAddresses: true,
      testRate: { perClient: { perSecond: 3 / 60, burst: 4 }, global: { perSecond: 7, burst: 14 } },
      icmpRate: { perClient: { perSecond: 11, burst: 22 }, global: { perSecond: 13, burst: 26 } },
      fragmentRate: { perClient: { perSecond: 17, burst: 34 }, global: { perSecond: 19, burst: 38 } },
      maxConcurrentTests: 23,
      maxBodyBytes: 65_536,
      idleTimeoutMs: 60_000,
      queueNum: 77,
      mark: 16,
      ipv4Url: 'http://192.0.2.1:9000',
      ipv6Url: 'https://[2001:db8::1]',
    });
  });

  it('the queue number follows the port unless given', () => {
    assert.equal(parse(['--port', '9123']).queueNum, 9123);
    assert.equal(parse(['--port', '9123', '--queue-num', '0']).queueNum, 0);
  });

  it('the range ends are accepted', () => {
    const lo = parse(['--port', '1', '--ipv4-mtu', '576', '--ipv6-mtu', '1280', '--window', '1', '--reaction-window', '0.01', '--mark', '1']);
    assert.deepEqual([lo.port, lo.icmpMtu[4], lo.icmpMtu[6], lo.windowMs, lo.reactionWindowMs, lo.mark], [1, 576, 1280, 1000, 10, 1]);
    const hi = parse(['--port', '65535', '--ipv4-mtu', '9000', '--window', '600', '--mark', '0xffffffff', '--idle-timeout', '3600']);
    assert.deepEqual([hi.port, hi.icmpMtu[4], hi.windowMs, hi.mark, hi.idleTimeoutMs], [65_535, 9000, 600_000, 0xffff_ffff, 3_600_000]);
  });

  const bad: [string, string][] = [
    ['--port', '0'],
    ['--port', '65536'],
    ['--port', 'http'],
    ['--port', '80.5'],
    ['--port', '-1'],
    ['--port', ''],
    ['--ipv4-mtu', '575'],
    ['--ipv4-mtu', '9001'],
    ['--ipv6-mtu', '1279'],
    ['--ipv4-fragment-size', '67'],
    ['--ipv4-fragment-size', '1501'],
    ['--ipv6-fragment-size', '1279'],
    ['--window', '0.5'],
    ['--window', '601'],
    ['--window', '1e3'],
    ['--window', 'ten'],
    ['--frag-window', '0'],
    ['--reaction-window', '0.001'],
    ['--frag-retransmissions', '0'],
    ['--frag-retransmissions', '21'],
    ['--frag-response-bytes', '4095'],
    ['--tests-per-client', '0'],
    ['--tests-global', 'many'],
    ['--icmp-per-client', '0'],
    ['--icmp-global', '10000001'],
    ['--fragments-per-client', '0'],
    ['--fragments-global', '-5'],
    ['--max-concurrent', '0'],
    ['--max-body', '4095'],
    ['--idle-timeout', '0'],
    ['--queue-num', '65536'],
    ['--mark', '0'],
    ['--mark', '0x100000000'],
    ['--mark', '0xzz'],
    ['--listen', 'localhost'],
    ['--listen', '10.0.0.256'],
    ['--ipv4-url', 'not a url'],
    ['--ipv6-url', 'ftp://[2001:db8::1]/'],
  ];
  for (const [flag, value] of bad) {
    it(`${flag} ${JSON.stringify(value)} is refused naming the flag and the value`, () => {
      // --flag=value: parseArgs reads "--port -1" as a flag without its value.
      rejects([`${flag}=${value}`], flag, `"${value}"`);
    });
  }

  it('an unknown flag, a positional argument and a missing value are refused', () => {
    rejects(['--prot', '8080'], '--prot');
    rejects(['serve'], 'serve');
    rejects(['--port'], '--port');
    rejects(['--port', '-1'], '--port');
  });

  it('--help and -h mean help, whatever else is given', () => {
    assert.equal(parseServeOptions(['--help']), undefined);
    assert.equal(parseServeOptions(['-h']), undefined);
    assert.equal(parseServeOptions(['--port', '99999', '--help']), undefined);
  });
});
