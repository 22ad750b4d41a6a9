import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asksForJson, requestHeadAsksForJson } from '../../src/checker/request-head.js';

describe('requestHeadAsksForJson', () => {
  it('reads ?format=json from the request line, and format decides over Accept', () => {
    assert.equal(requestHeadAsksForJson('POST /icmp?format=json HTTP/1.1\r\nHost: x\r\n'), true);
    assert.equal(requestHeadAsksForJson('POST /icmp?format=text HTTP/1.1\r\nAccept: application/json\r\n\r\n'), false);
  });

  it('reads a whole Accept line, in any case', () => {
    assert.equal(requestHeadAsksForJson('POST /icmp HTTP/1.1\r\nACCEPT: application/json\r\nHost: x\r\n'), true);
    assert.equal(requestHeadAsksForJson('POST /icmp HTTP/1.1\r\nAccept: */*\r\n\r\n'), false);
  });

  it('does not trust a line cut short, a missing target or a malformed one', () => {
    assert.equal(requestHeadAsksForJson('POST /icmp HTTP/1.1\r\nAccept: application/js'), false);
    assert.equal(requestHeadAsksForJson('POST /icmp HTTP/1.1\r\nAccept: application/json'), false);
    assert.equal(requestHeadAsksForJson('POST'), false);
    assert.equal(requestHeadAsksForJson('POST http://[ HTTP/1.1\r\n'), false);
  });
});

describe('asksForJson', () => {
  it('format=json, or without format an Accept naming application/json', () => {
    assert.deepEqual(
      [asksForJson('json', ''), asksForJson('text', 'application/json'), asksForJson(null, 'text/html, application/json'), asksForJson(null, '*/*')],
      [true, false, true, false],
    );
  });
});
