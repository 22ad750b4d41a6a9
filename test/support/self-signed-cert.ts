/**
 * A key and a self-signed certificate made for one test run with `openssl req -x509` (Debian's openssl, in
 * scripts/setup.sh), in a fresh temporary directory that `remove()` deletes. Lab HTTPS servers read them; nothing
 * verifies them (the server test does not check certificates).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandFailure, runCommand } from '../../src/host/process-runner.js';
import type { TlsFiles } from '../../src/lab/traffic/http-server.js';

export interface SelfSignedCert extends TlsFiles {
  remove(): Promise<void>;
}

/**
 * `rsa`: an RSA 2048 key, the commonest kind on the web; a TLS 1.3 server's first flight with its certificate is
 * about 1.7 KB, more than one full-size packet. `ec`: an ECDSA P-256 key; the flight is under 1 KB and fits a
 * packet of 1280 bytes.
 */
export type KeyKind = 'rsa' | 'ec';

const NEW_KEY: Record<KeyKind, readonly string[]> = {
  rsa: ['-newkey', 'rsa:2048'],
  ec: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'],
};

export async function makeSelfSignedCert(kind: KeyKind, commonName = 'mtuscope-lab'): Promise<SelfSignedCert> {
  const dir = await mkdtemp(join(tmpdir(), 'mtuscope-cert-'));
  const remove = (): Promise<void> => rm(dir, { recursive: true, force: true });
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  const argv = ['req', '-x509', ...NEW_KEY[kind], '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', `/CN=${commonName}`];
  const r = await runCommand('openssl', argv, { timeoutMs: 30_000 });
  if (r.code !== 0) {
    await remove();
    throw commandFailure('making a self-signed certificate', 'openssl', argv, r);
  }
  return { keyFile, certFile, remove };
}
