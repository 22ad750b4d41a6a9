import type { RunningLab } from '../running-lab.js';

/** The part of a lab that traffic helpers need: running commands inside its nodes. */
export type LabNodes = Pick<RunningLab, 'exec' | 'spawn'>;

export type Family = 4 | 6;

export function familyOf(address: string): Family {
  return address.includes(':') ? 6 : 4;
}

/** `host:port` with IPv6 addresses in brackets, as URLs need. */
export function hostPort(address: string, port: number): string {
  return familyOf(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}
