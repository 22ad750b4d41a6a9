/** Every scenario `mtuscope lab run` knows, in the order `lab scenarios` lists them. */
import { ecmpFragments } from './ecmp-fragments.js';
import { encapLb } from './encap-lb.js';
import { ecmpPtbRelay } from './ecmp-ptb-relay.js';
import { ecmpPtbRelayServers } from './ecmp-ptb-relay-servers.js';
import { ecmpPtbWrongServer } from './ecmp-ptb-wrong-server.js';
import { icmpBlackhole } from './icmp-blackhole.js';
import { mssClamp1344 } from './mss-clamp-1344.js';
import type { Scenario } from './scenario.js';
import { udpFragmentFirewall } from './udp-fragment-firewall.js';

export const SCENARIOS: readonly Scenario[] = [
  icmpBlackhole,
  ecmpFragments,
  ecmpPtbWrongServer,
  ecmpPtbRelay,
  ecmpPtbRelayServers,
  udpFragmentFirewall,
  mssClamp1344,
  encapLb,
];

export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
