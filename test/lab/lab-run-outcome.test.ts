/**
 * `lab run` gates CI: exit status 0 only when the network behaved as the scenario says, and the outcome as a boolean
 * in --json. Real runs are expected to come out as expected (scenarios.test.ts), so the "not as expected" side is
 * shown here with the scenarios' own checks on observations that contradict them.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { printScenarioReport } from '../../src/cli/lab-scenario-command.js';
import { icmpBlackhole } from '../../src/lab/scenarios/icmp-blackhole.js';
import type { Measurements, ScenarioReport } from '../../src/lab/scenarios/report.js';
import { scenarioReport } from '../../src/lab/scenarios/run-scenario.js';
import { unmetExpectations } from '../../src/lab/scenarios/scenario.js';
import { udpFragmentFirewall } from '../../src/lab/scenarios/udp-fragment-firewall.js';
import type { TransferResult } from '../../src/lab/traffic/curl.js';

/**
 * What udp-fragment-firewall measures when the firewall does drop fragments (the control run lets them through);
 * `through` lists sizes that got through the firewall, and whose fragments its DROP rule therefore never counted.
 */
function firewallObservations(through: readonly number[] = [200, 1400]): Measurements {
  const facts: Record<string, boolean | number> = {};
  for (const family of [4, 6]) {
    for (const size of [200, 1400, 3000, 8000]) facts[`answer${family}_${size}`] = through.includes(size);
    for (const [size, fragments] of [[3000, 3], [8000, 6]] as const) {
      facts[`controlAnswer${family}_${size}`] = true;
      facts[`fragmentsDropped${family}_${size}`] = through.includes(size) ? 0 : fragments;
    }
  }
  return { transfers: [], pings: [], datagrams: [], routeCache: [], facts };
}

function report(observations: Measurements): ScenarioReport {
  return scenarioReport(udpFragmentFirewall, { name: 'udp-fragment-firewall', id: '0a0b0c' }, Date.now(), observations, { available: false, error: 'not traced (--no-trace)' });
}

function printed(r: ScenarioReport, json: boolean): { status: number; text: string } {
  const out = new PassThrough();
  const status = printScenarioReport(r, json, out);
  out.end();
  return { status, text: String(out.read() ?? '') };
}

describe('lab run: outcome and exit status', () => {
  it('as expected: exit status 0, "asExpected": true, the text says so', () => {
    const r = report(firewallObservations());
    assert.deepEqual(r.unmet, []);
    assert.equal(r.asExpected, true);
    const text = printed(r, false);
    assert.equal(text.status, 0);
    assert.match(text.text, /^outcome: as expected$/m);
    const json = printed(r, true);
    assert.equal(json.status, 0);
    assert.equal((JSON.parse(json.text) as ScenarioReport).asExpected, true);
  });

  it('not as expected: exit status 1, "asExpected": false with what was missing, the text lists it', () => {
    // A firewall that lets 3000-byte answers through (their fragments) is not the scenario's firewall.
    const r = report(firewallObservations([200, 1400, 3000]));
    assert.deepEqual(r.unmet, [
      'IPv4: the 3000-byte answer (fragmented) never arrived',
      "IPv4: fw's fragment DROP rule dropped fragments while the 3000-byte answer was due",
      'IPv6: the 3000-byte answer (fragmented) never arrived',
      "IPv6: fw's fragment DROP rule dropped fragments while the 3000-byte answer was due",
    ]);
    assert.equal(r.asExpected, false);
    const text = printed(r, false);
    assert.equal(text.status, 1);
    assert.match(text.text, /^outcome: NOT as expected:\n {2}- IPv4: the 3000-byte answer \(fragmented\) never arrived\n {2}- IPv4: fw's .*\n {2}- IPv6: /m);
    const json = printed(r, true);
    assert.equal(json.status, 1);
    const parsed = JSON.parse(json.text) as ScenarioReport;
    assert.equal(parsed.asExpected, false);
    assert.deepEqual(parsed.unmet, r.unmet);
  });

  it("a scenario's check names each part of the outcome a run did not show", () => {
    const transfer = (label: string, family: 4 | 6, outcome: TransferResult['outcome']): TransferResult => ({
      label, node: 'c', family, url: '', outcome, uploadBytes: 0, downloadBytes: 0, bytesUploaded: 0, bytesDownloaded: 0, seconds: 1, httpCode: 200, curlExit: 0, localPort: 1,
    });
    const facts: Record<string, number> = {};
    for (const family of [4, 6]) {
      Object.assign(facts, {
        [`controlIcmpMtu${family}`]: 1400, [`controlCachedMtu${family}`]: 1400, [`pingsSent${family}`]: 2, [`pingReplies${family}`]: 0, [`icmpMtu${family}`]: 0, [`cachedMtu${family}`]: 0,
      });
    }
    const observations = (uploadOutcome: TransferResult['outcome']): Measurements => ({
      transfers: ([4, 6] as const).flatMap((f) => [transfer('small request', f, 'completed'), transfer('upload 100 KB', f, uploadOutcome), transfer('download 1 MB', f, 'completed')]),
      pings: [], datagrams: [], routeCache: [], facts,
    });
    assert.deepEqual(unmetExpectations(icmpBlackhole, observations('stalled')), []);
    // The black hole did not happen: the uploads completed.
    assert.deepEqual(unmetExpectations(icmpBlackhole, observations('completed')), ['IPv4: the 100 KB upload stalled', 'IPv6: the 100 KB upload stalled']);
  });
});
