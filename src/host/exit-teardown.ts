/**
 * What a process leaves on the host — labs still up, the checker engine's firewall rules — is torn down on the way
 * out: on a normal exit, and on SIGINT, SIGTERM and SIGHUP, after which the signal is raised again (unless another
 * handler takes over) so the exit status still says how the process ended. Only synchronous work is possible there,
 * hence `destroySync`. (SIGKILL cannot be caught: `mtuscope lab gc` and `npm run cleanup` are for that.)
 */
export interface SyncTeardown {
  destroySync(): void;
}

const live = new Set<SyncTeardown>();
let installed = false;

function teardownAll(): void {
  for (const lab of [...live]) {
    try {
      lab.destroySync();
    } catch {
      // Keep going: the other labs must still go.
    }
  }
  live.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', teardownAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      teardownAll();
      process.off(sig, handler);
      // With our listener gone and no other, the default action ends the process "killed by signal".
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

export function tearDownOnExit(lab: SyncTeardown): void {
  install();
  live.add(lab);
}

export function forgetOnExit(lab: SyncTeardown): void {
  live.delete(lab);
}
