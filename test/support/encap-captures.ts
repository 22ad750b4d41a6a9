/**
 * Real kernel captures of the encapsulating load balancer (src/lab/scenarios/encap-lb.ts): the scenario's own traffic
 * (a small request, a 100 KB upload, a 1 MB download from client c to the service behind lb's VXLAN tunnel), recorded
 * with tcpdump on the underlay between lb and the server s (both ends), on lb's client side and on lb's "any" device.
 *
 * `healthy`: the tunnel's MTU is 1450 instead of 1500, so every packet lb wraps fits the 1500-byte underlay (lb tells
 * the client with "fragmentation needed" when a packet is too big for the tunnel) and nothing is lost.
 */
import { encapLb } from '../../src/lab/scenarios/encap-lb.js';
import type { LabSpec } from '../../src/lab/spec.js';
import { startLab } from '../../src/lab/lab.js';
import { type CaptureSpec, hasEthtool, type KernelCapture, limitOffloads, recordTraffic } from './kernel-captures.js';

export const ENCAP_CAPTURES: readonly CaptureSpec[] = [
  { name: 'lb-underlay', node: 'lb', ifname: 'eth2', snaplen: 0 },
  { name: 's-underlay', node: 's', ifname: 'eth1', snaplen: 0 },
  { name: 'lb-client-side', node: 'lb', ifname: 'eth1', snaplen: 0 },
  { name: 'lb-any', node: 'lb', ifname: 'any', snaplen: 0 },
];

export const HEALTHY_TUNNEL_MTU = 1450;

function healthySpec(spec: LabSpec): LabSpec {
  return { ...spec, name: 'encap-lb-ok', links: spec.links.map((l) => (l.vxlan === undefined ? l : { ...l, mtu: HEALTHY_TUNNEL_MTU })) };
}

/** Runs the scenario's traffic in its lab (or the healthy variant's) with tcpdump on ENCAP_CAPTURES; files go to `dir`. */
export interface EncapCaptureOptions {
  readonly healthy?: boolean;
  /** false: segmentation and receive offloads off on every veth, so each captured frame is a wire packet (default: as the kernel sets them). */
  readonly offloads?: boolean;
  readonly onTopology?: (info: { readonly prefix: string }) => void;
}

export async function makeEncapCaptures(dir: string, opts: EncapCaptureOptions = {}): Promise<KernelCapture[]> {
  const lab = await startLab(opts.healthy === true ? healthySpec(encapLb.spec) : encapLb.spec);
  try {
    opts.onTopology?.({ prefix: `mtl-${lab.id}-` });
    if (opts.offloads === false) {
      const ethtool = await hasEthtool();
      for (const [node, ifname] of [['c', 'eth1'], ['lb', 'eth1'], ['lb', 'eth2'], ['s', 'eth1']] as const) await limitOffloads(lab, node, ifname, ethtool);
    }
    return await recordTraffic(lab, dir, ENCAP_CAPTURES, Promise.resolve(), async () => {
      await encapLb.run(lab);
    });
  } finally {
    await lab.destroy();
  }
}
