/**
 * The seed of bench/analyze: real traffic of Linux kernels in lab namespaces (root), captured once with tcpdump by the
 * tests' own capture labs and merged into one Ethernet pcap:
 * - client —1500— router —1400— server (test/support/kernel-captures.ts), on the client: TCP uploads and downloads in both families through PMTU discovery (ICMP "fragmentation needed" and
 *   Packet Too Big), DF pings answered with ICMP errors, fragmented pings and fragmented UDP in both families;
 * - two hosts with a VXLAN tunnel (makeVxlanCaptures): TCP and fragmented UDP inside VXLAN, on the underlay, offloads
 *   as the kernel sets them (so a few GSO super-packets, as on a real host);
 * - the encapsulating load balancer (test/support/encap-captures.ts), offloads off: a small request, a stalled upload
 *   (black-holed full-size segments retransmitted with backed-off timeouts) and a 1 MB download, on lb's client side.
 * The captures follow one another in the seed: each one's timestamps are moved to start 1 ms after the previous ends.
 */
import { join } from 'node:path';
import { readCaptureFile } from '../src/capture/reader.js';
import { openCaptureWriter } from '../src/capture/writer.js';
import { LinkType } from '../src/packet/link-type.js';
import { makeEncapCaptures } from '../test/support/encap-captures.js';
import { type KernelCapture, makeKernelCaptures, makeVxlanCaptures } from '../test/support/kernel-captures.js';

/**
 * The captures that go into the seed, by name (Ethernet only: one link type for the whole file), one capture point per
 * lab: the same conversation captured at two points would look like retransmissions once the captures follow one
 * another in one file.
 */
const SEED_CAPTURES = ['client-eth0', 'tunnel-a-eth0', 'lb-client-side'];

export interface SeedSummary {
  readonly packets: number;
  readonly captures: readonly { readonly name: string; readonly packets: number }[];
}

/** Runs the labs (a few seconds each) with their captures in `scratch`, and writes the merged seed to `path`. */
export async function makeAnalyzeSeed(scratch: string, path: string): Promise<SeedSummary> {
  const captures: KernelCapture[] = [
    ...(await makeKernelCaptures(scratch)),
    ...(await makeVxlanCaptures(scratch)),
    ...(await makeEncapCaptures(scratch, { offloads: false })),
  ];
  const w = openCaptureWriter(path, { format: 'pcap', linkType: LinkType.Ethernet, nanoseconds: true });
  const summary: { name: string; packets: number }[] = [];
  let next = 1_700_000_000_000_000_000n;
  for (const name of SEED_CAPTURES) {
    const c = captures.find((x) => x.name === name);
    if (c === undefined) throw new Error(`no capture named ${name}`);
    const packets = (await readCaptureFile(c.path)).filter((p) => p.linkType === LinkType.Ethernet);
    if (packets.length === 0) continue;
    const shift = next - packets[0]!.timestampNs;
    for (const p of packets) await w.write({ timestampNs: p.timestampNs + shift, data: p.data, originalLength: p.originalLength });
    next = packets[packets.length - 1]!.timestampNs + shift + 1_000_000n;
    summary.push({ name, packets: packets.length });
  }
  await w.close();
  return { packets: summary.reduce((s, c) => s + c.packets, 0), captures: summary };
}

export function seedPath(outDir: string): string {
  return join(outDir, 'analyze-seed.pcap');
}
