/**
 * One problem in a lab topology. `path` names the offending key: in the spec's own terms for specs built in
 * TypeScript (`nodes[1].clampMss`, `links[2].endpoints[0].node`), in the file's terms for topology files
 * (`topology.nodes.r1.clamp-mss`), where `line` (1-based) is also known.
 */
export interface LabFileError {
  readonly path: string;
  readonly line?: number;
  readonly message: string;
}

export function formatLabFileErrors(errors: readonly LabFileError[], fileName: string): string {
  return errors.map((e) => `${fileName}${e.line !== undefined ? `:${e.line}` : ''}: ${e.path ? `${e.path}: ` : ''}${e.message}`).join('\n');
}

/** Thrown by planLab for a spec that validateLabSpec rejects. */
export class LabSpecError extends Error {
  readonly errors: readonly LabFileError[];

  constructor(errors: readonly LabFileError[], source = 'lab spec') {
    super(`invalid ${source}:\n${formatLabFileErrors(errors, source)}`);
    this.name = 'LabSpecError';
    this.errors = errors;
  }
}
