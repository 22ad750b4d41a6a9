import { missingLabCapabilities } from '../host/capabilities.js';

/**
 * Why this process cannot `task` (e.g. "build a lab"), in words a user can act on, or undefined when it can. Checked
 * before anything is touched, so that a user without root gets this sentence rather than a raw EACCES from the
 * registry or a half-built lab.
 */
export function labPrivilegeProblem(task: string, statusText?: string): string | undefined {
  const missing = missingLabCapabilities(statusText);
  if (missing.length === 0) return undefined;
  return `needs root, or the capabilities CAP_SYS_ADMIN and CAP_NET_ADMIN, to ${task}; this process lacks ${missing.join(' and ')}. Run it as root (sudo).`;
}
