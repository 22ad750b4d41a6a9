import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePrometheusText, sampleValue } from '../support/prometheus-text.js';

const VALID = `# HELP requests_total Requests "served".
# TYPE requests_total counter
requests_total{path="/a",note="say \\"hi\\"\\\\\\n"} 3
requests_total{path="/b"} 1e3 1700000000000
# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.1"} 1
latency_seconds_bucket{le="1"} 4
latency_seconds_bucket{le="+Inf"} 5
latency_seconds_sum 3.5
latency_seconds_count 5
# TYPE up gauge
up NaN
`;

describe('parsePrometheusText (the reader the /metrics tests use)', () => {
  it('reads names, labels with escapes, values, timestamps, HELP and histograms', () => {
    const m = parsePrometheusText(VALID);
    assert.equal(m.get('requests_total')?.help, 'Requests "served".');
    assert.equal(sampleValue(m, 'requests_total', { path: '/a' }), 3);
    assert.deepEqual(m.get('requests_total')?.samples[0]?.labels, { path: '/a', note: 'say "hi"\\\n' });
    assert.equal(sampleValue(m, 'requests_total', { path: '/b' }), 1000);
    assert.equal(sampleValue(m, 'latency_seconds_bucket', { le: '1' }), 4);
    assert.equal(sampleValue(m, 'latency_seconds_count'), 5);
    assert.ok(Number.isNaN(sampleValue(m, 'up')));
  });

  const broken: [string, string, RegExp][] = [
    ['a sample before its TYPE', 'x_total 1\n', /before any TYPE/],
    ['a TYPE twice', '# TYPE x counter\n# TYPE x gauge\n', /given twice/],
    ['an unknown type', '# TYPE x timer\n', /not a metric type/],
    ['a bad name', '# TYPE 1x counter\n', /not a metric name/],
    ['an unquoted label', '# TYPE x gauge\nx{a=1} 1\n', /not quoted/],
    ['a bad escape', '# TYPE x gauge\nx{a="\\t"} 1\n', /no escape/],
    ['a label twice', '# TYPE x gauge\nx{a="1",a="2"} 1\n', /given twice/],
    ['an unclosed label', '# TYPE x gauge\nx{a="1} 1\n', /not closed/],
    ['a value that is no number', '# TYPE x gauge\nx 1,5\n', /not a number/],
    ['a negative counter', '# TYPE x counter\nx -1\n', /counter x is -1/],
    ['buckets that are not cumulative', '# TYPE h histogram\nh_bucket{le="1"} 3\nh_bucket{le="2"} 2\nh_bucket{le="+Inf"} 3\nh_count 3\n', /not cumulative/],
    ['no +Inf bucket', '# TYPE h histogram\nh_bucket{le="1"} 3\nh_count 3\n', /no \+Inf/],
    ['a count that is not the +Inf bucket', '# TYPE h histogram\nh_bucket{le="+Inf"} 3\nh_count 4\n', /_count 4/],
    ['no final newline', '# TYPE x gauge\nx 1', /newline/],
  ];
  for (const [what, text, message] of broken) {
    it(`refuses ${what}`, () => {
      assert.throws(() => parsePrometheusText(text), message);
    });
  }

  it('sampleValue refuses an ambiguous or missing sample', () => {
    const m = parsePrometheusText(VALID);
    assert.throws(() => sampleValue(m, 'requests_total'), /2 samples/);
    assert.throws(() => sampleValue(m, 'nothing'), /0 samples/);
  });
});
