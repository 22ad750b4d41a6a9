/**
 * The JavaScript of the checker's web page, inlined by renderIndexPage(). It reads the page's configuration from
 * the `checker-config` JSON element, runs both tests against every target (one test at a time per address family,
 * because a test lowers the client's path MTU towards the server and would disturb another test running at the same
 * time) and fills in the result elements that renderIndexPage() rendered.
 *
 * Result elements carry their progress for people and for tests: data-state is idle (not started), queued,
 * running, done (data-verdict holds the verdict) or error.
 *
 * Plain browser JavaScript without template literals, so that it can live in this TypeScript string unchanged; it
 * must never contain a closing script tag. Everything from the network or the configuration reaches the page as
 * textContent, never as markup.
 */
export const INDEX_PAGE_SCRIPT = String.raw`
(function () {
  'use strict';

  var ICMP_BODY_BYTES = 8192;
  var TESTS = ['icmp', 'frag'];
  var config = JSON.parse(document.getElementById('checker-config').textContent);
  // A test can take about twice the server's window (interference, then letting the transfer complete).
  var TIMEOUT_MS = (Math.max(1, Number(config.windowSeconds) || 10) * 3 + 30) * 1000;

  var COMMON_EVIDENCE = [
    ['Your address', function (e) { return e.clientAddress + ' port ' + e.clientPort; }],
    ['Server address', function (e) { return e.serverAddress + ' port ' + e.serverPort; }],
    ['MSS you announced', function (e) { return e.clientMss === null ? 'none seen' : e.clientMss + ' bytes'; }],
    ['Largest packet you sent', function (e) { return e.largestClientPacket + ' bytes'; }],
    ['Test MTU', function (e) { return e.testMtu + ' bytes'; }]
  ];
  var TEST_EVIDENCE = {
    icmp: [
      ['Largest packet after the reaction', function (e) { return e.largestPacketAfterReaction === null ? '-' : e.largestPacketAfterReaction + ' bytes'; }],
      ['Oversized packets (DF set)', function (e) { return String(e.oversizedPackets); }],
      ['Oversized packets without DF', function (e) { return String(e.oversizedWithoutDf); }],
      ['Packet Too Big sent', function (e) { return String(e.packetTooBigSent); }],
      ['Packet Too Big held back (rate limit)', function (e) { return String(e.packetTooBigSuppressed); }],
      ['Your retransmissions', function (e) { return String(e.retransmissions); }]
    ],
    frag: [
      ['Segments sent as fragments', function (e) { return String(e.segmentsFragmented); }],
      ['Fragments sent', function (e) { return String(e.fragmentsSent); }],
      ['Server retransmissions', function (e) { return String(e.retransmissions); }]
    ]
  };
  var TIMING_EVIDENCE = [
    ['Reaction time', function (e) { return e.reactionMs === null ? '-' : e.reactionMs + ' ms'; }],
    ['Test duration', function (e) { return e.durationMs + ' ms'; }]
  ];

  var button = document.getElementById('run-tests');
  var busy = false;

  function element(tag, className, text) {
    var el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function resultOf(targetIndex, test) {
    return document.getElementById('result-' + targetIndex + '-' + test);
  }

  function show(el, state, status, verdict) {
    el.setAttribute('data-state', state);
    if (verdict === undefined) el.removeAttribute('data-verdict');
    else el.setAttribute('data-verdict', verdict);
    var statusEl = el.querySelector('.status');
    statusEl.textContent = status;
    statusEl.className = 'status' + (verdict === undefined ? '' : ' verdict-' + verdict.replace(/[^a-z-]/g, ''));
  }

  function clearDetail(el) {
    var detail = el.querySelector('.detail');
    while (detail.firstChild) detail.removeChild(detail.firstChild);
    return detail;
  }

  function icmpBody() {
    var chunk = 'mtuscope ICMP test: an upload large enough to need packets bigger than the test MTU.\n';
    var body = '';
    while (body.length < ICMP_BODY_BYTES) body += chunk;
    return body.slice(0, ICMP_BODY_BYTES);
  }

  function testUrl(baseUrl, test) {
    var url = new URL(baseUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not an http(s) address: ' + baseUrl);
    return url.origin + url.pathname.replace(/\/+$/, '') + '/' + test + '?format=json';
  }

  function evidenceRows(test, evidence) {
    var rows = COMMON_EVIDENCE.concat(TEST_EVIDENCE[test] || [], TIMING_EVIDENCE);
    var table = element('table', 'evidence');
    var body = element('tbody');
    rows.forEach(function (row) {
      var value;
      try {
        value = row[1](evidence);
      } catch (e) {
        value = '?';
      }
      if (value === undefined || value.indexOf('undefined') !== -1) return;
      var tr = element('tr');
      tr.appendChild(element('th', '', row[0]));
      tr.appendChild(element('td', '', value));
      body.appendChild(tr);
    });
    table.appendChild(body);
    return table;
  }

  function showResult(el, test, result) {
    var verdict = String(result.verdict);
    show(el, 'done', verdict, verdict);
    var detail = clearDetail(el);
    if (result.explanation) detail.appendChild(element('p', 'explanation', String(result.explanation)));
    if (Array.isArray(result.advice) && result.advice.length > 0) {
      var list = element('ul', 'advice');
      result.advice.forEach(function (a) { list.appendChild(element('li', '', String(a))); });
      detail.appendChild(list);
    }
    if (result.evidence && typeof result.evidence === 'object') detail.appendChild(evidenceRows(test, result.evidence));
  }

  async function fetchResult(target, test) {
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, TIMEOUT_MS);
    var init = { method: 'GET', cache: 'no-store', signal: controller.signal };
    if (test === 'icmp') {
      init.method = 'POST';
      init.headers = { 'content-type': 'text/plain' };
      init.body = icmpBody();
    }
    try {
      var res = await fetch(testUrl(target.baseUrl, test), init);
      if (!res.ok) {
        var text = (await res.text()).slice(0, 300);
        throw new Error('HTTP ' + res.status + ' ' + res.statusText + (text ? ': ' + text : ''));
      }
      // The fragments answer is streamed: padding first, the verdict at the very end, so read the whole body.
      var result = await res.json();
      if (result === null || typeof result !== 'object' || typeof result.verdict !== 'string') throw new Error('the answer carries no verdict');
      if (result.test !== test) throw new Error('the answer is for test ' + String(result.test) + ', not ' + test);
      return result;
    } catch (e) {
      if (controller.signal.aborted) throw new Error('no answer within ' + Math.round(TIMEOUT_MS / 1000) + ' s');
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  async function runTest(target, targetIndex, test) {
    var el = resultOf(targetIndex, test);
    var started = Date.now();
    clearDetail(el);
    show(el, 'running', 'running\u2026 0 s');
    var ticker = setInterval(function () {
      show(el, 'running', 'running\u2026 ' + Math.floor((Date.now() - started) / 1000) + ' s');
    }, 1000);
    try {
      var result = await fetchResult(target, test);
      clearInterval(ticker);
      showResult(el, test, result);
    } catch (e) {
      clearInterval(ticker);
      var message = e && e.message ? e.message : String(e);
      if (e && e.name === 'TypeError' && /fetch/i.test(message)) message += ' (server unreachable, connection reset, or the answer was refused)';
      show(el, 'error', 'error: ' + message);
    }
  }

  async function runFamily(entries) {
    for (var i = 0; i < entries.length; i++) {
      for (var t = 0; t < TESTS.length; t++) await runTest(entries[i].target, entries[i].index, TESTS[t]);
    }
  }

  async function runAll() {
    if (busy) return;
    busy = true;
    button.disabled = true;
    button.textContent = 'Running\u2026';
    var families = {};
    config.targets.forEach(function (target, index) {
      (families[target.family] = families[target.family] || []).push({ target: target, index: index });
      TESTS.forEach(function (test) {
        clearDetail(resultOf(index, test));
        show(resultOf(index, test), 'queued', 'waiting\u2026');
      });
    });
    try {
      await Promise.all(Object.keys(families).map(function (f) { return runFamily(families[f]); }));
    } finally {
      busy = false;
      button.disabled = false;
      button.textContent = 'Run tests again';
    }
  }

  button.addEventListener('click', function () { runAll(); });
  if (!new URLSearchParams(location.search).has('manual')) runAll();
})();
`;
