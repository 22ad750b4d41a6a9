import type { ProbeFlow } from '../../src/probe/probe-packets.js';

/** The flows the pure probe tests build packets of (lab tests use their lab's addresses). */
export const FLOW4: ProbeFlow = { family: 4, protocol: 'udp', source: '10.0.1.1', destination: '10.0.9.2', srcPort: 40001, dstPort: 33434, echoIdent: 0x4d54 };
export const FLOW6: ProbeFlow = { ...FLOW4, family: 6, source: 'fd00:1::1', destination: 'fd00:9::2' };
