import { isIP } from 'node:net';

/** The service's base URL at `address` and `port`; an IPv6 address in brackets (RFC 3986). */
export function serviceUrl(address: string, port: number): string {
  return isIP(address) === 6 ? `http://[${address}]:${port}` : `http://${address}:${port}`;
}
