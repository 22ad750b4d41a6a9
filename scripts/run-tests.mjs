// Builds, lints, then runs every compiled test file with Node's own test runner.
// Arguments narrow the run to test files whose path contains one of them.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

const filters = process.argv.slice(2);
run('npx', ['tsc', '-p', 'tsconfig.json']);
if (filters.length === 0) run('npx', ['eslint', '.']);
const files = findTests('dist/test').filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
run('node', ['--test', '--test-concurrency=2', ...files]);
