/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), written from its specification
 * (https://prometheus.io/docs/instrumenting/exposition_formats/) independently of prom-client, so that a test of
 * /metrics checks what a Prometheus server would read. It throws, naming the line, on anything a scraper would
 * refuse or misread: a malformed name, label or value, a sample before its TYPE, a TYPE given twice, a label
 * repeated, histogram buckets that are not cumulative or whose +Inf bucket is not the count.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name: `x_bucket`, `x_sum`, `x_count` for a histogram `x`. */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface MetricFamily {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string | undefined;
  readonly samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(text: string, where: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return Number.NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`${where}: "${text}" is not a number`);
  return Number(text);
}

/** `{a="x",b="y\"z"}` from `text` at `start` (the brace); returns the labels and the index after the closing brace. */
function parseLabels(text: string, start: number, where: string): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    if (text[i] === '}') return { labels, end: i + 1 };
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`${where}: a label without "="`);
    const name = text.slice(i, eq).trim();
    if (!LABEL_NAME.test(name)) throw new Error(`${where}: "${name}" is not a label name`);
    if (name in labels) throw new Error(`${where}: label ${name} given twice`);
    if (text[eq + 1] !== '"') throw new Error(`${where}: the value of label ${name} is not quoted`);
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] !== '\\') {
        value += text[j];
        continue;
      }
      const next = text[++j];
      if (next === 'n') value += '\n';
      else if (next === '\\' || next === '"') value += next;
      else throw new Error(`${where}: "\\${next ?? ''}" is no escape of a label value`);
    }
    if (j >= text.length) throw new Error(`${where}: the value of label ${name} is not closed`);
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') throw new Error(`${where}: "," or "}" expected after label ${name}`);
  }
}

/** The family a sample name belongs to: `x_bucket` of histogram `x` is `x`. */
function familyOf(name: string, families: ReadonlyMap<string, MetricFamily>): MetricFamily | undefined {
  const direct = families.get(name);
  if (direct !== undefined) return direct;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  const base = m?.[1] === undefined ? undefined : families.get(m[1]);
  if (base === undefined) return undefined;
  if (base.type === 'histogram' || (base.type === 'summary' && m?.[2] !== 'bucket')) return base;
  return undefined;
}

function checkHistogram(family: MetricFamily): void {
  const series = new Map<string, { buckets: [number, number][]; count?: number }>();
  const keyOf = (labels: Readonly<Record<string, string>>): string =>
    JSON.stringify(Object.entries(labels).filter(([k]) => k !== 'le').sort(([a], [b]) => a.localeCompare(b)));
  for (const s of family.samples) {
    const entry = series.get(keyOf(s.labels)) ?? { buckets: [] };
    series.set(keyOf(s.labels), entry);
    if (s.name.endsWith('_bucket')) {
      const le = s.labels['le'];
      if (le === undefined) throw new Error(`${family.name}: a bucket without le`);
      entry.buckets.push([parseValue(le, `${family.name} le`), s.value]);
    } else if (s.name.endsWith('_count')) {
      entry.count = s.value;
    }
  }
  for (const [key, { buckets, count }] of series) {
    let previous = -Infinity;
    let previousCount = 0;
    for (const [le, n] of buckets) {
      if (!(le > previous)) throw new Error(`${family.name} ${key}: buckets not in increasing order of le`);
      if (n < previousCount) throw new Error(`${family.name} ${key}: bucket le=${le} holds fewer than the one before (not cumulative)`);
      previous = le;
      previousCount = n;
    }
    if (buckets.at(-1)?.[0] !== Infinity) throw new Error(`${family.name} ${key}: no +Inf bucket`);
    if (count !== previousCount) throw new Error(`${family.name} ${key}: _count ${count} is not the +Inf bucket ${previousCount}`);
  }
}

export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const helps = new Map<string, string>();
  if (text !== '' && !text.endsWith('\n')) throw new Error('the text does not end with a newline');
  text.split('\n').forEach((raw, index) => {
    const where = `line ${index + 1}`;
    const line = raw.trim();
    if (line === '') return;
    const meta = /^#\s*(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(line);
    if (meta !== null) {
      const [, kind, name = '', rest = ''] = meta;
      if (!NAME.test(name)) throw new Error(`${where}: "${name}" is not a metric name`);
      if (kind === 'HELP') {
        if (helps.has(name)) throw new Error(`${where}: HELP of ${name} given twice`);
        helps.set(name, rest);
        const family = families.get(name);
        if (family !== undefined) families.set(name, { ...family, help: rest });
        return;
      }
      if (!TYPES.has(rest as MetricType)) throw new Error(`${where}: "${rest}" is not a metric type`);
      if (families.has(name)) throw new Error(`${where}: TYPE of ${name} given twice, or after its samples`);
      families.set(name, { name, type: rest as MetricType, help: helps.get(name), samples: [] });
      return;
    }
    if (line.startsWith('#')) return;
    const nameEnd = line.search(/[{\s]/);
    if (nameEnd < 0) throw new Error(`${where}: a sample without a value`);
    const name = line.slice(0, nameEnd);
    if (!NAME.test(name)) throw new Error(`${where}: "${name}" is not a metric name`);
    let labels: Record<string, string> = {};
    let rest = line.slice(nameEnd);
    if (rest.startsWith('{')) {
      const parsed = parseLabels(line, nameEnd, where);
      labels = parsed.labels;
      rest = line.slice(parsed.end);
    }
    const fields = rest.trim().split(/\s+/);
    if (fields.length < 1 || fields.length > 2 || fields[0] === '') throw new Error(`${where}: "${rest.trim()}" is not a value (and timestamp)`);
    const value = parseValue(fields[0] ?? '', where);
    const family = familyOf(name, families);
    if (family === undefined) throw new Error(`${where}: sample ${name} before any TYPE of its metric`);
    if (family.type === 'counter' && !(value >= 0)) throw new Error(`${where}: counter ${name} is ${value}`);
    family.samples.push({ name, labels, value });
  });
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

/** The value of the one sample of `name` whose labels include `labels`; throws when none or several match. */
export function sampleValue(families: ReadonlyMap<string, MetricFamily>, name: string, labels: Readonly<Record<string, string>> = {}): number {
  const matching = [...families.values()]
    .flatMap((f) => f.samples)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (matching.length !== 1) throw new Error(`${matching.length} samples of ${name} ${JSON.stringify(labels)}`);
  return matching[0]?.value ?? Number.NaN;
}

/** The sum of the samples of `name` whose labels include `labels` (0 when none). */
export function sampleSum(families: ReadonlyMap<string, MetricFamily>, name: string, labels: Readonly<Record<string, string>> = {}): number {
  return [...families.values()]
    .flatMap((f) => f.samples)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}
