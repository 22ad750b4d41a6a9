import { type Decoded, fail, ok } from './result.js';

/**
 * Foo-over-UDP has no header of its own: the receiver knows the inner protocol only from the UDP
 * port it configured (`ip fou add port 5555 ipproto 4`). So decoding needs the same mapping.
 */
export type FouPortMap = ReadonlyMap<number, number>;

export function fouInnerProtocol(ports: FouPortMap, dstPort: number): number | undefined {
  return ports.get(dstPort);
}

/** Parses "5555:4,5556:41" (port:ipproto pairs). */
export function parseFouPortMap(text: string): Decoded<FouPortMap> {
  const map = new Map<number, number>();
  const entries = text.split(',');
  let offset = 0;
  for (const entry of entries) {
    const m = /^(\d{1,5}):(\d{1,3})$/.exec(entry.trim());
    if (!m) return fail('fou', 'port-map', offset, `entry "${entry}" is not PORT:IPPROTO (e.g. 5555:4)`);
    const port = Number(m[1]);
    const proto = Number(m[2]);
    if (port < 1 || port > 65535) return fail('fou', 'port-map', offset, `entry "${entry}": port ${port} is outside 1-65535`);
    if (proto > 255) return fail('fou', 'port-map', offset, `entry "${entry}": IP protocol ${proto} is above 255`);
    map.set(port, proto);
    offset += entry.length + 1;
  }
  return ok(map);
}
