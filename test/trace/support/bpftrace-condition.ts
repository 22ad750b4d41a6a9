/**
 * A tiny evaluator of the conditions tracer-program.ts's compileFilter generates: $variables, decimal and hex
 * numbers, ==, !=, <, <=, >, >=, &, &&, ||, !, parentheses, with bpftrace's (C's) precedence, so that a missing
 * parenthesis around `$x & mask` shows as a wrong verdict here as it would in the kernel. Anything outside that
 * grammar throws: the generated code must not use it without this evaluator learning it.
 */
type Token = { kind: 'num'; value: bigint } | { kind: 'var'; name: string } | { kind: 'op'; op: string };

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  const re = /\s*(?:(0x[0-9a-f]+|\d+)|(\$[a-z0-9_]+)|(&&|\|\||==|!=|<=|>=|<|>|&|!|\(|\)))/giy;
  let at = 0;
  while (at < text.length) {
    if (/^\s*$/.test(text.slice(at))) break;
    re.lastIndex = at;
    const m = re.exec(text);
    if (m === null) throw new SyntaxError(`cannot read the condition at ${at}: "${text.slice(at, at + 20)}"`);
    if (m[1] !== undefined) out.push({ kind: 'num', value: BigInt(m[1]) });
    else if (m[2] !== undefined) out.push({ kind: 'var', name: m[2] });
    else out.push({ kind: 'op', op: m[3]! });
    at = re.lastIndex;
  }
  return out;
}

/** Binary operators from loosest to tightest, as in C and bpftrace's parser. */
const LEVELS: readonly (readonly string[])[] = [['||'], ['&&'], ['&'], ['==', '!='], ['<', '<=', '>', '>=']];

const U64 = (1n << 64n) - 1n;

export function evaluateCondition(text: string, vars: ReadonlyMap<string, bigint>): boolean {
  const tokens = tokenize(text);
  let i = 0;
  const peekOp = (): string | undefined => {
    const t = tokens[i];
    return t?.kind === 'op' ? t.op : undefined;
  };
  const unary = (): bigint => {
    const t = tokens[i++];
    if (t === undefined) throw new SyntaxError(`the condition ends early: ${text}`);
    if (t.kind === 'num') return t.value & U64;
    if (t.kind === 'var') {
      const v = vars.get(t.name);
      if (v === undefined) throw new SyntaxError(`unknown variable ${t.name}`);
      return v;
    }
    if (t.op === '!') return unary() === 0n ? 1n : 0n;
    if (t.op === '(') {
      const v = level(0);
      if (peekOp() !== ')') throw new SyntaxError(`expected ) at token ${i} of ${text}`);
      i++;
      return v;
    }
    throw new SyntaxError(`unexpected ${t.op} at token ${i - 1} of ${text}`);
  };
  const level = (n: number): bigint => {
    if (n === LEVELS.length) return unary();
    let left = level(n + 1);
    for (let op = peekOp(); op !== undefined && LEVELS[n]!.includes(op); op = peekOp()) {
      i++;
      // Both sides are evaluated: the conditions have no side effects, so short-circuiting changes nothing.
      const right = level(n + 1);
      left = apply(op, left, right);
    }
    return left;
  };
  const v = level(0);
  if (i !== tokens.length) throw new SyntaxError(`extra tokens at ${i} of ${text}`);
  return v !== 0n;
}

function apply(op: string, a: bigint, b: bigint): bigint {
  const bool = (x: boolean): bigint => (x ? 1n : 0n);
  switch (op) {
    case '||': return bool(a !== 0n || b !== 0n);
    case '&&': return bool(a !== 0n && b !== 0n);
    case '&': return a & b;
    case '==': return bool(a === b);
    case '!=': return bool(a !== b);
    case '<': return bool(a < b);
    case '<=': return bool(a <= b);
    case '>': return bool(a > b);
    case '>=': return bool(a >= b);
    default: throw new SyntaxError(`operator ${op}`);
  }
}
