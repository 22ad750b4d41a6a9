import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import {
  DEFAULT_SERVE_OPTIONS,
  DEFAULT_STORE_PATH_TEXT,
  defaultStorePath,
  ROOT_STORE_PATH,
  type ServeOptions,
} from '../../src/checker/serve-options.js';
import { commandHelp, parseInvocation, invokeCommand, UsageError } from '../../src/cli/command.js';
import { SERVE_OPTIONS, serveCommand, serveOptionsFrom } from '../../src/cli/serve-command.js';
import { DEFAULT_ENGINE_SETTINGS } from '../../src/engine/engine-settings.js';
import { LOG_FORMATS } from '../../src/checker/service-log.js';

function parse(argv: readonly string[]): ServeOptions {
  return serveOptionsFrom(parseInvocation(serveCommand, argv).values);
}

function rejects(argv: readonly string[], ...mentions: readonly string[]): void {
  assert.throws(
    () => parse(argv),
    (err: unknown) => {
      assert.ok(err instanceof UsageError, `a UsageError, got ${String(err)}`);
      for (const m of mentions) assert.ok(err.message.includes(m), `"${err.message}" mentions ${m}`);
      return true;
    },
    argv.join(' '),
  );
}

/** Each option of the help text and what its "(default: ...)" says, the description wrapped lines included. */
function helpDefaults(help: string): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  let flag: string | undefined;
  let text = '';
  const flush = (): void => {
    if (flag !== undefined) out.set(flag, /\(default: (.*)\)$/.exec(text)?.[1]);
    flag = undefined;
  };
  for (const line of help.split('\n')) {
    const label = /^ +(?:-\w, )?--([a-z0-9-]+)(?: [A-Z.,:]+)? *(.*)$/.exec(line);
    if (label !== null) {
      flush();
      flag = label[1];
      text = label[2] ?? '';
    } else if (flag !== undefined && /^ {8,}\S/.test(line)) {
      text += ` ${line.trim()}`;
    } else {
      flush();
    }
  }
  flush();
  return out;
}

/** The leaf paths where two option sets differ (arrays compared whole). */
function changedPaths(a: unknown, b: unknown, path = ''): string[] {
  if (typeof a === 'object' && a !== null && !Array.isArray(a) && typeof b === 'object' && b !== null && !Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => changedPaths((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path === '' ? k : `${path}.${k}`));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [path];
}

describe('mtuscope serve options', () => {
  it('defaults', () => {
    assert.deepEqual(parse([]), {
      listen: ['0.0.0.0', '::'],
      listenIsDefault: true,
      port: 8080,
      testBaseUrl: { 4: undefined, 6: undefined },
      icmpMtu: { 4: 905, 6: 1280 },
      fragmentSize: { 4: 576, 6: 1280 },
      icmpWindowMs: 10_000,
      fragWindowMs: 10_000,
      reactionWindowMs: 2000,
      fragMaxRetransmissions: 3,
      fragResponseBytes: 8192,
      downloadWindowMs: 10_000,
      downloadMaxRetransmissions: 3,
      storePath: defaultStorePath(),
      nodeName: hostname(),
      truncateAddresses: false,
      testRate: { perClient: { perSecond: 30 / 60, burst: 10 }, global: { perSecond: 200, burst: 400 } },
      icmpRate: { perClient: { perSecond: 50, burst: 100 }, global: { perSecond: 5000, burst: 10_000 } },
      fragmentRate: { perClient: { perSecond: 500, burst: 1000 }, global: { perSecond: 50_000, burst: 100_000 } },
      ipv6ClientPrefix: 64,
      maxConcurrentTests: 256,
      maxBodyBytes: 1 << 20,
      idleTimeoutMs: 30_000,
      queueNum: 8080,
      mark: 0x6d74,
      kernelAnswer: true,
      logFormat: 'text',
      udp: true,
      udpSettings: {
        maxReplySize: 4096,
        answerRate: { perClient: { perSecond: 20, burst: 40 }, global: { perSecond: 2000, burst: 4000 } },
        replyByteRate: { perClient: { perSecond: 32_768, burst: 65_536 }, global: { perSecond: 4 << 20, burst: 8 << 20 } },
        cookieSlotMs: 60_000,
      },
      maxConnections: 16384,
      idleMs: 120_000,
    });
  });

  it('without flags every setting is the settings modules\' default', () => {
    const { listenIsDefault, storePath, queueNum, nodeName, ...rest } = parse([]);
    assert.deepEqual(rest, DEFAULT_SERVE_OPTIONS);
    assert.deepEqual(
      { listenIsDefault, storePath, queueNum, nodeName },
      { listenIsDefault: true, storePath: defaultStorePath(), queueNum: DEFAULT_SERVE_OPTIONS.port, nodeName: hostname() },
    );
    for (const [key, value] of Object.entries(DEFAULT_ENGINE_SETTINGS)) assert.deepEqual(DEFAULT_SERVE_OPTIONS[key as keyof typeof DEFAULT_ENGINE_SETTINGS], value, key);
  });

  it('--help shows each default as the code holds it: the value it shows, given as the flag, changes nothing', () => {
    const shown = helpDefaults(commandHelp(serveCommand));
    assert.deepEqual([...shown.keys()].sort(), [...Object.keys(SERVE_OPTIONS), 'help'].sort(), 'every option is in the help');
    const defaults = parse([]);
    for (const [flag, spec] of Object.entries(SERVE_OPTIONS)) {
      if (spec.type === 'boolean') {
        assert.equal(shown.get(flag), undefined, flag);
        continue;
      }
      const text = shown.get(flag);
      assert.ok(text !== undefined, `--${flag} shows its default`);
      if (!('default' in spec)) continue;
      assert.deepEqual(parse([`--${flag}`, text]), defaults, `--${flag} ${text} is the default`);
      // And a value that is not the default does change something, so the comparison above can fail.
      const other = !('unit' in spec) ? (LOG_FORMATS.find((f) => f !== text) ?? '') : spec.unit === 'seconds' ? String(Number(text) + 1) : String(spec.range.min === Number(text) ? spec.range.min + 1 : spec.range.min);
      assert.notDeepEqual(parse([`--${flag}`, other]), defaults, `--${flag} ${other}`);
    }
    // The defaults given in words.
    assert.equal(shown.get('listen'), DEFAULT_SERVE_OPTIONS.listen.join(' and '));
    assert.deepEqual(parse(DEFAULT_SERVE_OPTIONS.listen.flatMap((a) => ['--listen', a])), { ...defaults, listenIsDefault: false });
    assert.equal(shown.get('queue-num'), 'the port');
    assert.equal(parse(['--port', '9123']).queueNum, 9123);
    assert.equal(shown.get('ipv4-url'), 'the address the page was loaded from');
    assert.equal(shown.get('ipv6-url'), 'the address the page was loaded from');
    assert.deepEqual(defaults.testBaseUrl, { 4: undefined, 6: undefined });
    assert.equal(shown.get('store'), DEFAULT_STORE_PATH_TEXT);
    assert.equal(shown.get('node-name'), 'the host name');
  });

  it('each flag changes the setting it names, and nothing else', () => {
    const cases: Record<keyof typeof SERVE_OPTIONS, readonly [readonly string[], ...(keyof ServeOptions | `${keyof ServeOptions}.${string}`)[]]> = {
      listen: [['10.0.0.1'], 'listen', 'listenIsDefault'],
      port: [['9000'], 'port', 'queueNum'],
      'ipv4-url': [['http://192.0.2.1:9000'], 'testBaseUrl.4'],
      'ipv6-url': [['http://[2001:db8::1]:9000'], 'testBaseUrl.6'],
      'ipv4-mtu': [['1000'], 'icmpMtu.4'],
      'ipv6-mtu': [['1400'], 'icmpMtu.6'],
      'ipv4-fragment-size': [['600'], 'fragmentSize.4'],
      'ipv6-fragment-size': [['1400'], 'fragmentSize.6'],
      window: [['5'], 'icmpWindowMs'],
      'frag-window': [['5'], 'fragWindowMs'],
      'reaction-window': [['5'], 'reactionWindowMs'],
      'frag-retransmissions': [['5'], 'fragMaxRetransmissions'],
      'frag-response-bytes': [['5000'], 'fragResponseBytes'],
      'download-window': [['5'], 'downloadWindowMs'],
      'download-retransmissions': [['5'], 'downloadMaxRetransmissions'],
      store: [['/tmp/x.sqlite'], 'storePath'],
      'node-name': [['edge-1'], 'nodeName'],
      'truncate-addresses': [[], 'truncateAddresses'],
      'tests-per-client': [['600'], 'testRate.perClient'],
      'tests-global': [['7'], 'testRate.global'],
      'icmp-per-client': [['11'], 'icmpRate.perClient'],
      'icmp-global': [['13'], 'icmpRate.global'],
      'fragments-per-client': [['17'], 'fragmentRate.perClient'],
      'fragments-global': [['19'], 'fragmentRate.global'],
      'ipv6-client-prefix': [['56'], 'ipv6ClientPrefix'],
      'max-concurrent': [['23'], 'maxConcurrentTests'],
      'max-body': [['65536'], 'maxBodyBytes'],
      'idle-timeout': [['60'], 'idleTimeoutMs'],
      'queue-num': [['77'], 'queueNum'],
      mark: [['0x10'], 'mark'],
      'no-kernel-answer': [[], 'kernelAnswer'],
      'log-format': [['json'], 'logFormat'],
      'no-udp': [[], 'udp'],
      'udp-max-reply': [['1500'], 'udpSettings.maxReplySize'],
      'udp-per-client': [['7'], 'udpSettings.answerRate.perClient'],
      'udp-global': [['70'], 'udpSettings.answerRate.global'],
      'udp-bytes-per-client': [['100000'], 'udpSettings.replyByteRate.perClient'],
      'udp-bytes-global': [['1000000'], 'udpSettings.replyByteRate.global'],
    };
    const defaults = parse([]);
    for (const [flag, [values, ...settings]] of Object.entries(cases)) {
      const changed = changedPaths(defaults, parse([`--${flag}`, ...values]));
      const under = (path: string, setting: string): boolean => path === setting || path.startsWith(`${setting}.`);
      for (const path of changed) assert.ok(settings.some((s) => under(path, s)), `--${flag} changed ${path}, not one of ${settings.join(', ')}`);
      for (const s of settings) assert.ok(changed.some((path) => under(path, s)), `--${flag} changed ${s}`);
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
      '--download-window', '3',
      '--download-retransmissions', '6',
      '--store', 'postgresql://checker:secret@db.example/results',
      '--node-name', 'edge-1.example',
      '--truncate-addresses',
      '--tests-per-client', '3',
      '--tests-global', '7',
      '--icmp-per-client', '11',
      '--icmp-global', '13',
      '--fragments-per-client', '17',
      '--fragments-global', '19',
      '--ipv6-client-prefix', '56',
      '--max-concurrent', '23',
      '--max-body', '65536',
      '--idle-timeout', '60',
      '--queue-num', '77',
      '--mark', '0x10',
      '--no-kernel-answer',
      '--log-format', 'json',
      '--no-udp',
      '--udp-max-reply', '9000',
      '--udp-per-client', '3',
      '--udp-global', '5',
      '--udp-bytes-per-client', '1000',
      '--udp-bytes-global', '100000',
    ]);
    assert.deepEqual(o, {
      listen: ['10.0.0.1', 'fd00::1'],
      listenIsDefault: false,
      port: 9000,
      testBaseUrl: { 4: 'http://192.0.2.1:9000', 6: 'https://[2001:db8::1]' },
      icmpMtu: { 4: 1000, 6: 1400 },
      fragmentSize: { 4: 68, 6: 1500 },
      icmpWindowMs: 5000,
      fragWindowMs: 2500,
      reactionWindowMs: 500,
      fragMaxRetransmissions: 5,
      fragResponseBytes: 4096,
      downloadWindowMs: 3000,
      downloadMaxRetransmissions: 6,
      storePath: 'postgresql://checker:secret@db.example/results',
      nodeName: 'edge-1.example',
      truncateAddresses: true,
      testRate: { perClient: { perSecond: 3 / 60, burst: 6 }, global: { perSecond: 7, burst: 14 } },
      icmpRate: { perClient: { perSecond: 11, burst: 22 }, global: { perSecond: 13, burst: 26 } },
      fragmentRate: { perClient: { perSecond: 17, burst: 34 }, global: { perSecond: 19, burst: 38 } },
      ipv6ClientPrefix: 56,
      maxConcurrentTests: 23,
      maxBodyBytes: 65_536,
      idleTimeoutMs: 60_000,
      queueNum: 77,
      mark: 16,
      kernelAnswer: false,
      logFormat: 'json',
      udp: false,
      udpSettings: {
        maxReplySize: 9000,
        answerRate: { perClient: { perSecond: 3, burst: 6 }, global: { perSecond: 5, burst: 10 } },
        // Bursts hold at least one reply of the largest size.
        replyByteRate: { perClient: { perSecond: 1000, burst: 9000 }, global: { perSecond: 100_000, burst: 200_000 } },
        cookieSlotMs: 60_000,
      },
      maxConnections: 16384,
      idleMs: 120_000,
    });
  });

  it('the queue number follows the port unless given', () => {
    assert.equal(parse(['--port', '9123']).queueNum, 9123);
    assert.equal(parse(['--port', '9123', '--queue-num', '0']).queueNum, 0);
  });

  it('the range ends are accepted', () => {
    const lo = parse(['--port', '1', '--ipv4-mtu', '576', '--ipv6-mtu', '1280', '--window', '1', '--reaction-window', '0.01', '--mark', '1']);
    assert.deepEqual([lo.port, lo.icmpMtu[4], lo.icmpMtu[6], lo.icmpWindowMs, lo.reactionWindowMs, lo.mark], [1, 576, 1280, 1000, 10, 1]);
    const hi = parse(['--port', '65535', '--ipv4-mtu', '9000', '--window', '600', '--mark', '0xffffffff', '--idle-timeout', '3600']);
    assert.deepEqual([hi.port, hi.icmpMtu[4], hi.icmpWindowMs, hi.mark, hi.idleTimeoutMs], [65_535, 9000, 600_000, 0xffff_ffff, 3_600_000]);
    assert.deepEqual([parse(['--ipv6-client-prefix', '32']).ipv6ClientPrefix, parse(['--ipv6-client-prefix', '128']).ipv6ClientPrefix], [32, 128]);
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
    ['--ipv6-client-prefix', '31'],
    ['--ipv6-client-prefix', '129'],
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
    ['--log-format', 'JSON'],
    ['--log-format', 'syslog'],
    ['--store', 'mysql://db.example/results'],
    ['--node-name', ''],
    ['--node-name', 'a node'],
    ['--node-name', 'x'.repeat(65)],
  ];
  for (const [flag, value] of bad) {
    it(`${flag} ${JSON.stringify(value)} is refused naming the flag and the value`, () => {
      // --flag=value: parseArgs reads "--port -1" as a flag without its value.
      rejects([`${flag}=${value}`], `${flag}: "${value}" is not`);
    });
  }

  it('an unknown flag, a positional argument and a missing value are refused', () => {
    rejects(['--prot', '8080'], '--prot');
    rejects(['serve'], 'serve');
    rejects(['--port'], '--port');
    rejects(['--port', '-1'], '--port');
  });

  it('--help and -h mean help, whatever else is given', async () => {
    for (const argv of [['--help'], ['-h'], ['--port', '99999', '--help']]) {
      const out = new PassThrough();
      let text = '';
      out.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      assert.equal(await invokeCommand(serveCommand, argv, out), 0, argv.join(' '));
      assert.equal(text, commandHelp(serveCommand));
      assert.match(text, /^Usage: mtuscope serve \[options\]\n/);
    }
  });

  it('the help lists the options under their groups, in order', () => {
    const headings = commandHelp(serveCommand)
      .split('\n')
      .filter((l) => /^[A-Z][a-z]+:$/.test(l));
    assert.deepEqual(headings, ['Options:', 'Listening:', 'Tests:', 'Results:', 'Limits:', 'Engine:', 'Operations:']);
  });

  it('the default store does not depend on the current directory', () => {
    assert.equal(defaultStorePath(0, {}, '/root'), ROOT_STORE_PATH);
    assert.equal(ROOT_STORE_PATH, '/var/lib/mtuscope/results.sqlite');
    assert.equal(defaultStorePath(1000, { XDG_STATE_HOME: '/home/u/state' }, '/home/u'), '/home/u/state/mtuscope/results.sqlite');
    assert.equal(defaultStorePath(1000, {}, '/home/u'), '/home/u/.local/state/mtuscope/results.sqlite');
    // A relative XDG_STATE_HOME is invalid (XDG Base Directory spec) and would depend on the current directory.
    assert.equal(defaultStorePath(1000, { XDG_STATE_HOME: 'state' }, '/home/u'), '/home/u/.local/state/mtuscope/results.sqlite');
  });
});
