import { LAB_CAPABILITIES, privilegeProblem } from '../host/capabilities.js';

/** Why this process cannot `task` (e.g. "build a lab"), or undefined when it can. */
export function labPrivilegeProblem(task: string, statusText?: string): string | undefined {
  return privilegeProblem(LAB_CAPABILITIES, task, 'Run it as root (sudo).', statusText);
}
