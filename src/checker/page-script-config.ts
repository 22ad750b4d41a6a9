/**
 * What the web page hands its script (src/checker/page/page-script.ts): the JSON of the page's `checker-config`
 * element. The script runs in the browser and imports only types, so this file holds nothing but types.
 */
import type { IpFamilyName } from '../packet/ip-family.js';

export interface PageScriptTarget {
  /** The script runs one test at a time per family: a test lowers the client's path MTU towards the server. */
  readonly family: IpFamilyName;
  /** Where this target's tests are, e.g. `http://10.0.2.2:8080` or `http://[fd00:0:0:2::2]:8080`. */
  readonly baseUrl: string;
}

export interface PageScriptConfig {
  /** In the order of the page's result elements: target i fills `result-i-icmp` and `result-i-frag`. */
  readonly targets: readonly PageScriptTarget[];
  /** How long the server interferes with one test; the script waits a few times as long for an answer. */
  readonly windowSeconds: number;
}
