import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { LineOutput } from '../../src/cli/line-output.js';

/** A stream that records each write it gets; `isTTY` as a terminal's stdout has it. */
function sink(isTTY: boolean): { stream: Writable & { isTTY?: boolean }; writes: string[] } {
  const writes: string[] = [];
  const stream: Writable & { isTTY?: boolean } = new Writable({
    write(chunk: Buffer, _encoding, done) {
      writes.push(chunk.toString('utf8'));
      done();
    },
  });
  if (isTTY) stream.isTTY = true;
  return { stream, writes };
}

describe('decode output', () => {
  it('writes every line at once to a terminal', async () => {
    const { stream, writes } = sink(true);
    const out = new LineOutput(stream);
    for (const line of ['a\n', 'b\n', 'c\n']) await out.write(line);
    assert.deepEqual(writes, ['a\n', 'b\n', 'c\n']);
  });

  it('holds lines back elsewhere until flushed or full, and then writes them in one piece', async () => {
    const { stream, writes } = sink(false);
    const out = new LineOutput(stream);
    for (const line of ['a\n', 'b\n', 'c\n']) assert.equal(out.write(line), undefined);
    assert.equal(writes.length, 0);
    await out.flush();
    assert.deepEqual(writes, ['a\nb\nc\n']);
    assert.equal(out.flush(), undefined, 'nothing left to write');
    const line = `${'x'.repeat(999)}\n`;
    let full: Promise<void> | undefined;
    let n = 0;
    while (full === undefined) {
      full = out.write(line);
      n++;
    }
    await full;
    await out.flush();
    assert.equal(writes.length, 3);
    assert.equal(writes.slice(1).join(''), line.repeat(n));
    assert.ok(writes[1]!.length > 300_000, `the first full write held ${writes[1]!.length} bytes`);
  });

  it('keeps every line, in order, across many flushes (its two buffers take turns)', async () => {
    const { stream, writes } = sink(false);
    const out = new LineOutput(stream);
    const lines = Array.from({ length: 5000 }, (_, i) => `${i} ${'é'.repeat(i % 300)}\n`);
    for (const [i, line] of lines.entries()) {
      const full = out.write(line);
      if (full) await full;
      if (i % 7 === 0) await out.flush();
    }
    await out.flush();
    assert.equal(writes.join(''), lines.join(''));
  });

  it('stops quietly when the reader has gone away (EPIPE)', async () => {
    const stream = new Writable({
      write(_chunk, _encoding, done) {
        done(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    const out = new LineOutput(stream, false);
    out.write('a\n');
    await out.flush();
    assert.equal(out.closed, true);
    assert.equal(out.write('b\n'), undefined);
  });
});
