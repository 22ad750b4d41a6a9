import type { CapturedPacket } from '../capture/captured-packet.js';
import type { DecodedFrame } from '../packet/frame.js';
import { linkTypeName } from '../packet/link-type.js';
import { jsonValue } from './json-value.js';
import { layerJson } from './layer-json.js';
import { epochText } from './time-text.js';

/** One line of `mtuscope decode --json`: the capture record's facts, then every layer (see layerJson). */
export function packetJson(n: number, pkt: CapturedPacket, frame: DecodedFrame): string {
  let layers = '[';
  for (let i = 0; i < frame.layers.length; i++) layers += (i ? ',' : '') + layerJson(frame.layers[i]!);
  let s = `{"n":${n},"time":"${epochText(pkt.timestampNs)}","interface":${pkt.interfaceId},"linkType":"${linkTypeName(pkt.linkType)}"`;
  s += `,"length":${pkt.originalLength},"capturedLength":${pkt.capturedLength},"truncated":${frame.truncated},"layers":${layers}]`;
  if (frame.error) s += `,"error":${jsonValue(frame.error)}`;
  return s + '}\n';
}
