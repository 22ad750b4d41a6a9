/**
 * The server test's report over several connections: the tally, the family summary and finding for each mix of
 * verdicts (including the one that must not be called healthy), the text lines, and the rule listing parser that
 * tells our queue rules and their owner from everything else in a filter table.
 */
import assert from 'node:assert/strict';
import https from 'node:https';
import { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import tls from 'node:tls';
import type { ServerTestEvidence } from '../../src/probe/server-test-connection.js';
import { downloadErrorWords } from '../../src/probe/server-test-http.js';
import { familyResult, serverTestJson, serverTestReport, serverTestText, type ServerTestConnectionResult } from '../../src/probe/server-test-report.js';
import { findServerTestRules } from '../../src/probe/server-test-rules.js';
import type { ServerTestVerdict } from '../../src/probe/server-test-verdict.js';

const EVIDENCE: ServerTestEvidence = {
  segments: 11, fullSize: 10, noDf: 0, packetTooBigSent: 10, firstPacketTooBigMs: 2, fullSizeRetransmissions: 0,
  firstSmallerResend: { atMs: 3.5, ipLength: 1336 }, serverMss: 1460, largestPacket: 1500, dropped: 10, packetTooBigLimited: 0, largestSmallerResend: 1336,
};
const HONOURED: ServerTestVerdict = { verdict: 'honoured', reactionMs: 1.5 };
const IGNORED: ServerTestVerdict = { verdict: 'ignored' };

function conn(index: number, verdict: ServerTestVerdict, evidence: Partial<ServerTestEvidence> = {}): ServerTestConnectionResult {
  return { index, localPort: 40_000 + index, ptbMtu: 1344 - 8 * index, verdict, evidence: { ...EVIDENCE, ...evidence }, http: { status: 200, bytes: 0, error: undefined, cutShort: true, tlsCompleted: undefined }, durationMs: 5 };
}

const ignoredEvidence = { fullSizeRetransmissions: 3, firstSmallerResend: undefined, largestSmallerResend: undefined, packetTooBigSent: 13 };

describe('the server test report', () => {
  it('all honoured: healthy, with the median and slowest reaction', () => {
    const f = familyResult(4, '10.99.0.1', [conn(1, HONOURED), conn(2, { verdict: 'honoured', reactionMs: 4 }), conn(3, { verdict: 'honoured', reactionMs: 0.5 })]);
    assert.equal(f.summary, 'honours');
    assert.deepEqual(f.reactionMs, { median: 1.5, max: 4 });
    const r = serverTestReport({ url: 'http://10.99.0.1/', host: '10.99.0.1', port: 80, ptbMtu: 1280, windowMs: 5000, families: [f], untested: [] });
    assert.deepEqual(r.findings.map((x) => [x.code, x.problem]), [['server-honours-ptb', false]]);
    assert.equal(r.findings[0]!.sentence, 'IPv4: the server at 10.99.0.1 port 80 honoured Packet Too Big on 3 of 3 connections: it re-sent in smaller packets, 1.5 ms after our message (median; slowest 4.0 ms).');
  });

  it('some honoured, some ignored: a problem, not "healthy", naming both counts and the full size', () => {
    const f = familyResult(6, 'fd00:99::1', [conn(1, HONOURED), conn(2, IGNORED, ignoredEvidence), conn(3, IGNORED, ignoredEvidence), conn(4, { verdict: 'cannot-tell', reason: 'no-resend' })]);
    assert.deepEqual([f.summary, f.honoured, f.ignored, f.cannotTell], ['partly', 1, 2, 1]);
    const r = serverTestReport({ url: 'http://[fd00:99::1]/', host: '[fd00:99::1]', port: 80, ptbMtu: 1280, windowMs: 5000, families: [f], untested: [{ family: 4, reason: 'x has no IPv4 address' }] });
    assert.deepEqual(r.findings.map((x) => [x.code, x.problem]), [['server-ptb-partly-ignored', true], ['server-test-cannot-tell', false]]);
    assert.match(r.findings[0]!.sentence, /^IPv6: the server at fd00:99::1 port 80 honoured Packet Too Big on 1 of 4 connections and ignored it on 2, re-sending 1500-byte packets \(1 cannot tell: 1 nothing re-sent after our Packet Too Big\)\./);
    const text = serverTestText(r);
    assert.match(text, / 2 {3}40002 {2}1328 {2}1500 {5}13 {3}ignored {6}re-sent dropped data at full size 3 times \(largest 1500 bytes\) after 13 Packet Too Big, never smaller\n/);
    assert.match(text, /IPv6: 1 of 4 connections honoured Packet Too Big \(reaction median 1\.5 ms, slowest 1\.5 ms\), 2 ignored it, 1 cannot tell/);
    assert.match(text, /IPv4: not tested: x has no IPv4 address/);
    const json = serverTestJson(r);
    assert.equal(json.families[0]!.family, 'ipv6');
    assert.equal(JSON.parse(JSON.stringify(json)).families[0].connections[3].reason, 'no-resend');
  });

  it('all ignored: a black hole; none conclusive: cannot tell, not a problem', () => {
    assert.equal(familyResult(4, '10.0.0.1', [conn(1, IGNORED, ignoredEvidence)]).summary, 'ignores');
    const none = familyResult(4, '10.0.0.1', [conn(1, { verdict: 'cannot-tell', reason: 'no-full-size' }, { largestPacket: 1280, packetTooBigSent: 0 })]);
    assert.equal(none.summary, 'cannot-tell');
    const r = serverTestReport({ url: 'http://10.0.0.1/', host: '10.0.0.1', port: 80, ptbMtu: 1280, windowMs: 5000, families: [none], untested: [] });
    assert.deepEqual(r.findings.map((x) => [x.code, x.problem, x.confidence]), [['server-test-cannot-tell', false, 'low']]);
    assert.match(serverTestText(r), /cannot tell: the server sent no packet bigger than 1336 bytes \(largest 1280, MSS 1460, 11 data packets, HTTP 200, 0 bytes\)/);
  });
});

describe('a connection whose download failed', () => {
  const tlsFailed = (error: string): ServerTestConnectionResult => ({
    ...conn(1, { verdict: 'cannot-tell', reason: 'connection-failed' }, { segments: 1, fullSize: 0, packetTooBigSent: 0, firstPacketTooBigMs: undefined, firstSmallerResend: undefined, largestPacket: 99, dropped: 0, largestSmallerResend: undefined }),
    http: { status: undefined, bytes: 0, error, cutShort: false, tlsCompleted: false },
  });

  it('says the download failed, with what did come and why, on the connection\'s one line', () => {
    const f = familyResult(4, '10.0.0.1', [tlsFailed('TLS handshake failed: the answer is not TLS (wrong version number)')]);
    const r = serverTestReport({ url: 'https://10.0.0.1:8080/', host: '10.0.0.1', port: 8080, ptbMtu: 1280, windowMs: 5000, families: [f], untested: [] });
    assert.deepEqual(r.findings.map((x) => [x.code, x.problem]), [['server-test-cannot-tell', false]]);
    assert.equal(r.findings[0]!.sentence, 'IPv4: the server at 10.0.0.1 port 8080: cannot tell whether it honours Packet Too Big: none of 1 connections gave a verdict (1 with a failed download).');
    const line = serverTestText(r).split('\n').find((l) => l.startsWith(' 1 '));
    assert.equal(
      line,
      ' 1   40001  1336  99       0    cannot-tell  cannot tell: the download failed before any packet bigger than 1336 bytes came (1 data packet, largest 99 bytes, 0 bytes): ' +
        'TLS handshake failed: the answer is not TLS (wrong version number)',
    );
    assert.equal(JSON.parse(JSON.stringify(serverTestJson(r))).families[0].connections[0].http.tlsCompleted, false);
  });

  it('says "no data came" only when no data came', () => {
    const none = { ...tlsFailed('connect ECONNREFUSED 10.0.0.1:8080'), evidence: { ...EVIDENCE, segments: 0, fullSize: 0, largestPacket: 0 } };
    const r = serverTestReport({ url: 'http://10.0.0.1:8080/', host: '10.0.0.1', port: 8080, ptbMtu: 1280, windowMs: 5000, families: [familyResult(4, '10.0.0.1', [none])], untested: [] });
    assert.match(serverTestText(r), /cannot tell: no data came from the server \(connect ECONNREFUSED 10\.0\.0\.1:8080\)\n/);
  });
});

/**
 * The error Node's own TLS client gives when the server answers a ClientHello with `answer`, with no network: the
 * "server" is an in-memory stream. `https.request` (as the server test uses it) reports OpenSSL's reason only inside
 * a "write EPROTO" message; `tls.connect` alone as a property.
 */
function realTlsError(answer: string, via: 'https-request' | 'tls-connect'): Promise<Error> {
  const server = new Duplex({
    read() {},
    write(_chunk, _encoding, callback) {
      callback();
      setImmediate(() => this.push(Buffer.from(answer)));
    },
  });
  const connect = (): tls.TLSSocket => tls.connect({ socket: server, rejectUnauthorized: false });
  return new Promise((resolve) => {
    if (via === 'tls-connect') {
      connect().on('error', resolve);
      return;
    }
    class InMemory extends https.Agent {
      override createConnection(): tls.TLSSocket {
        return connect();
      }
    }
    const req = https.request({ host: 'example.invalid', path: '/', agent: new InMemory() });
    req.on('error', resolve);
    req.end();
  });
}

describe('downloadErrorWords', () => {
  const plainHttp = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';
  it('names a failed TLS handshake in one line, and says what "wrong version number" means, from Node\'s real errors', async () => {
    for (const via of ['https-request', 'tls-connect'] as const) {
      const err = await realTlsError(plainHttp, via);
      assert.match(err.message, /wrong version number.*\n$/s, 'OpenSSL\'s string, with its newline');
      assert.equal(downloadErrorWords(err, true, false), 'TLS handshake failed: the answer is not TLS (wrong version number)', via);
    }
    assert.equal(
      downloadErrorWords(new Error('Client network socket disconnected before secure TLS connection was established'), true, false),
      'TLS handshake failed: Client network socket disconnected before secure TLS connection was established',
    );
  });
  it('does not blame TLS for what happened after its handshake, nor on http', () => {
    assert.equal(downloadErrorWords(new Error('read ECONNRESET'), true, true), 'read ECONNRESET');
    assert.equal(downloadErrorWords(new Error('socket hang up\n  more'), false, undefined), 'socket hang up more');
  });
});

describe('findServerTestRules', () => {
  const owner = '"mtuscope pid=4242 start=777"';
  it('finds our chain, the jump to it and its owner, and removes the jump before the chain', () => {
    const listing = [
      '-P INPUT ACCEPT',
      '-N MTUSCOPE-IN-8080',
      '-N MTUSCOPE-SRVTEST',
      `-A INPUT -m comment --comment ${owner} -j MTUSCOPE-SRVTEST`,
      '-A INPUT -j MTUSCOPE-IN-8080',
      `-A MTUSCOPE-SRVTEST -s 10.99.0.1/32 -p tcp -m tcp --sport 8080 -m conntrack --ctstate ESTABLISHED -m comment --comment ${owner} -j NFQUEUE --queue-num 7362 --queue-bypass`,
    ].join('\n');
    const found = findServerTestRules(listing);
    assert.deepEqual(found?.owners, [{ pid: 4242, start: 777 }]);
    assert.deepEqual(found?.removal, ['-D INPUT -m comment --comment "mtuscope pid=4242 start=777" -j MTUSCOPE-SRVTEST', '-F MTUSCOPE-SRVTEST', '-X MTUSCOPE-SRVTEST']);
  });
  it('finds nothing in a table without them (the engine\'s chains are not ours)', () => {
    assert.equal(findServerTestRules('-P INPUT ACCEPT\n-N MTUSCOPE-IN-8080\n-A INPUT -j MTUSCOPE-IN-8080\n'), undefined);
  });
});
