/**
 * The settings bench/checker runs `mtuscope serve` with: the defaults, but the admission, ICMP and fragment limits, which
 * would refuse or rate limit the load of a few client addresses running hundreds of tests a second. The printout
 * names each one with its default, so that nobody takes the figures for those of a server with the defaults.
 */
import { DEFAULT_SERVE_OPTIONS } from '../src/checker/serve-options.js';

export interface ServerSetting {
  readonly flag: string;
  readonly value: string;
  /** The default, in the flag's unit. */
  readonly defaultValue: string;
}

const RAISED = '1000000';
const defaults = DEFAULT_SERVE_OPTIONS;

export const RAISED_SERVER_SETTINGS: readonly ServerSetting[] = [
  { flag: '--tests-per-client', value: RAISED, defaultValue: `${Math.round(defaults.testRate.perClient.perSecond * 60)} per minute` },
  { flag: '--tests-global', value: RAISED, defaultValue: `${defaults.testRate.global.perSecond} per second` },
  { flag: '--icmp-per-client', value: RAISED, defaultValue: `${defaults.icmpRate.perClient.perSecond} per second` },
  { flag: '--icmp-global', value: RAISED, defaultValue: `${defaults.icmpRate.global.perSecond} per second` },
  { flag: '--fragments-per-client', value: RAISED, defaultValue: `${defaults.fragmentRate.perClient.perSecond} per second` },
  { flag: '--fragments-global', value: RAISED, defaultValue: `${defaults.fragmentRate.global.perSecond} per second` },
  { flag: '--max-concurrent', value: '100000', defaultValue: String(defaults.maxConcurrentTests) },
];

export function serverArgs(settings: readonly ServerSetting[]): string[] {
  return settings.flatMap((s) => [s.flag, s.value]);
}
