import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { missingLabCapabilities } from '../../src/host/capabilities.js';
import { labPrivilegeProblem } from '../../src/lab/privileges.js';

function status(capEff: string): string {
  return ['Name:\tnode', 'CapInh:\t0000000000000000', 'CapPrm:\t000001ffffffffff', `CapEff:\t${capEff}`, 'CapBnd:\t000001ffffffffff', ''].join('\n');
}

const hex = (bits: readonly number[]): string => bits.reduce((v, b) => v | (1n << BigInt(b)), 0n).toString(16).padStart(16, '0');

describe('what a lab needs', () => {
  it('CAP_SYS_ADMIN (bit 21) and CAP_NET_ADMIN (bit 12), from the effective set', () => {
    assert.deepEqual(missingLabCapabilities(status('000001ffffffffff')), []);
    assert.deepEqual(missingLabCapabilities(status(hex([12, 21]))), []);
    assert.deepEqual(missingLabCapabilities(status(hex([12]))), ['CAP_SYS_ADMIN']);
    assert.deepEqual(missingLabCapabilities(status(hex([21]))), ['CAP_NET_ADMIN']);
    // A container's default set has CAP_NET_RAW but neither of the two.
    assert.deepEqual(missingLabCapabilities(status('00000000a80425fb')), ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN']);
    assert.deepEqual(missingLabCapabilities('Name:\tnode\n'), ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN']);
  });

  it('says what is missing, for what, and how to fix it; nothing when nothing is', () => {
    assert.equal(labPrivilegeProblem('build a lab', status(hex([12, 21]))), undefined);
    assert.equal(
      labPrivilegeProblem('build a lab', status(hex([12]))),
      'needs root, or the capabilities CAP_SYS_ADMIN and CAP_NET_ADMIN, to build a lab; this process lacks CAP_SYS_ADMIN. Run it as root (sudo).',
    );
    assert.match(labPrivilegeProblem('build a lab', status('0000000000000000')) ?? '', /lacks CAP_SYS_ADMIN and CAP_NET_ADMIN\./);
  });
});
