import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AnyCommand } from '../../src/cli/command.js';
import { COMMANDS } from '../../src/cli/commands.js';
import { mtuscope } from '../support/cli.js';

/** Every command and subcommand, as the words typed after `mtuscope`. */
function leaves(commands: readonly AnyCommand[]): { words: string[]; group: boolean }[] {
  const out: { words: string[]; group: boolean }[] = [];
  for (const c of commands) {
    const words = c.name.split(' ');
    if ('subcommands' in c) {
      out.push({ words, group: true });
      out.push(...leaves(c.subcommands));
    } else out.push({ words, group: false });
  }
  return out;
}

const ALL = leaves(COMMANDS);

describe('the command table', () => {
  it('holds every command of the top-level help', async () => {
    const top = await mtuscope(['--help']);
    assert.equal(top.code, 0);
    for (const c of COMMANDS) assert.match(top.stdout, new RegExp(`^ {2}${c.name} +\\S`, 'm'), c.name);
    assert.ok(COMMANDS.length >= 1);
  });

  for (const { words, group } of ALL) {
    const name = words.join(' ');
    it(`mtuscope ${name} --help exits 0 and shows its usage`, async () => {
      const r = await mtuscope([...words, '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^Usage: mtuscope ${name}\\b`));
      if (!group) assert.match(r.stdout, /^ +-h, --help +this help$/m);
      assert.equal(r.stderr, '');
    });

    it(`mtuscope ${name} with a bad ${group ? 'subcommand' : 'flag'} exits 2 naming it`, async () => {
      const bad = group ? 'no-such-subcommand' : '--no-such-flag';
      const r = await mtuscope([...words, bad]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`^mtuscope ${name}: .*${bad}`));
      assert.equal(r.stdout, '');
    });
  }

  it('an unknown command exits 2 naming it, and no command at all exits 2 with the help', async () => {
    const unknown = await mtuscope(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^mtuscope: unknown command "frobnicate"/);
    const none = await mtuscope([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^Usage: mtuscope <command>/);
  });
});
