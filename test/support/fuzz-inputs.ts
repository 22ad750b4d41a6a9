import { LinkType } from '../../src/packet/link-type.js';
import { prng } from './prng.js';
import { sampleFrames } from './sample-frames.js';

const LINK_TYPES = [LinkType.Ethernet, LinkType.Raw, LinkType.LinuxSll, LinkType.LinuxSll2, LinkType.Null, LinkType.Loop, LinkType.Ipv4, LinkType.Ipv6];

export interface FuzzInput {
  readonly linkType: number;
  readonly data: Uint8Array;
  readonly originalLength: number;
}

/**
 * Yields hostile inputs: a quarter pure random bytes, the rest valid sample frames with random bit
 * flips, byte overwrites at header-sized offsets, extreme length values, truncation and extension.
 */
export function* fuzzInputs(count: number, seed: number): Generator<FuzzInput> {
  const rnd = prng(seed);
  const samples = sampleFrames();
  const int = (n: number): number => Math.floor(rnd() * n);
  for (let i = 0; i < count; i++) {
    if (i % 4 === 0) {
      const data = new Uint8Array(int(200));
      for (let j = 0; j < data.length; j++) data[j] = int(256);
      yield { linkType: LINK_TYPES[int(LINK_TYPES.length)]!, data, originalLength: data.length + (rnd() < 0.3 ? int(100) : 0) };
      continue;
    }
    const s = samples[int(samples.length)]!;
    let data = s.data.slice();
    const mutations = 1 + int(4);
    for (let m = 0; m < mutations && data.length > 0; m++) {
      const at = int(Math.min(data.length, 120));
      switch (int(5)) {
        case 0:
          data[at] = data[at]! ^ (1 << int(8));
          break;
        case 1:
          data[at] = int(256);
          break;
        case 2:
          data[at] = rnd() < 0.5 ? 0 : 0xff;
          if (at + 1 < data.length) data[at + 1] = rnd() < 0.5 ? 0 : 0xff;
          break;
        case 3:
          data = data.slice(0, int(data.length + 1));
          break;
        default: {
          const grown = new Uint8Array(data.length + int(64));
          grown.set(data);
          data = grown;
        }
      }
    }
    yield { linkType: s.linkType, data, originalLength: rnd() < 0.5 ? s.data.length : data.length };
  }
}
