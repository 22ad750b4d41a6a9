import type { CapturedPacket } from '../capture/captured-packet.js';
import type { DecodedFrame } from '../packet/frame.js';
import { linkTypeName } from '../packet/link-type.js';
import { epochText } from './time-text.js';

const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i]!];
  return s;
}

/**
 * Byte fields become hex strings, except payload-like ones that can be large: `data` and `quoted`
 * give their byte count (a quoted packet is decoded into layers of its own anyway).
 */
function replacer(key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return key === 'data' || key === 'quoted' ? value.length : hex(value);
  if (typeof value === 'bigint') return value.toString();
  return value;
}

export function packetJson(n: number, pkt: CapturedPacket, frame: DecodedFrame): string {
  return (
    JSON.stringify(
      {
        n,
        time: epochText(pkt.timestampNs),
        interface: pkt.interfaceId,
        linkType: linkTypeName(pkt.linkType),
        length: pkt.originalLength,
        capturedLength: pkt.capturedLength,
        truncated: frame.truncated,
        layers: frame.layers,
        error: frame.error,
      },
      replacer,
    ) + '\n'
  );
}
