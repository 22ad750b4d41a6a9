import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { missingEngineCapabilities } from '../../src/host/capabilities.js';

function status(capEff: string): string {
  return ['Name:\tnode', 'Umask:\t0022', 'State:\tS (sleeping)', 'CapInh:\t0000000000000000', 'CapPrm:\t000001ffffffffff', `CapEff:\t${capEff}`, 'CapBnd:\t000001ffffffffff', 'CapAmb:\t0000000000000000', 'NoNewPrivs:\t0', ''].join('\n');
}

describe('missingEngineCapabilities', () => {
  it('root with every capability lacks nothing', () => {
    assert.deepEqual(missingEngineCapabilities(status('000001ffffffffff')), []);
  });

  it('exactly CAP_NET_ADMIN (bit 12) and CAP_NET_RAW (bit 13) suffice', () => {
    assert.deepEqual(missingEngineCapabilities(status((0x3000).toString(16).padStart(16, '0'))), []);
  });

  it('names each missing capability', () => {
    assert.deepEqual(missingEngineCapabilities(status('0000000000001000')), ['CAP_NET_RAW']);
    assert.deepEqual(missingEngineCapabilities(status('0000000000002000')), ['CAP_NET_ADMIN']);
    // A container default set: chown, dac_override, fowner, fsetid, kill, setgid, setuid, setpcap, net_bind_service,
    // net_raw, sys_chroot, mknod, audit_write, setfcap: NET_RAW but no NET_ADMIN.
    assert.deepEqual(missingEngineCapabilities(status('00000000a80425fb')), ['CAP_NET_ADMIN']);
    assert.deepEqual(missingEngineCapabilities(status('0000000000000000')), ['CAP_NET_ADMIN', 'CAP_NET_RAW']);
  });

  it('reads CapEff, not the permitted or bounding sets', () => {
    const text = status('0000000000000000').replace('CapPrm:\t000001ffffffffff', 'CapPrm:\t0000000000003000');
    assert.deepEqual(missingEngineCapabilities(text), ['CAP_NET_ADMIN', 'CAP_NET_RAW']);
  });

  it('a status without a CapEff line counts as no capabilities', () => {
    assert.deepEqual(missingEngineCapabilities('Name:\tnode\n'), ['CAP_NET_ADMIN', 'CAP_NET_RAW']);
  });

  it('reads this process by default', () => {
    const missing = missingEngineCapabilities();
    assert.ok(Array.isArray(missing) && missing.every((m) => m === 'CAP_NET_ADMIN' || m === 'CAP_NET_RAW'));
  });
});
