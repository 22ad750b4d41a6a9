// The allowed import directions between the areas of src/, enforced by ESLint (eslint.config.js) and described in
// docs/ARCHITECTURE.md. An area may import itself and the areas listed for it; nothing else of src/.
//
// Pure areas compute from bytes and numbers alone: they may not import any area that touches the host, nor a Node
// module or native package that reaches sockets, processes, the kernel or a database. Their only I/O is capture's
// reading and writing of capture files and streams.

/** Areas whose code knows nothing of sockets, processes or the kernel. */
export const PURE_AREAS = ['util', 'packet', 'capture', 'frag', 'pmtu', 'analyze'];

/** Each area of src/ and the areas it may import. */
export const AREA_IMPORTS = {
  util: [],
  packet: ['util'],
  capture: ['util', 'packet'],
  frag: ['util', 'packet'],
  pmtu: ['util', 'packet'],
  analyze: ['util', 'packet', 'capture', 'frag', 'pmtu'],
  host: ['util', 'packet'],
  engine: ['util', 'packet', 'frag', 'pmtu', 'host'],
  relay: ['util', 'packet', 'capture', 'frag', 'pmtu', 'host'],
  probe: ['util', 'packet', 'capture', 'frag', 'pmtu', 'host'],
  trace: ['util', 'packet', 'capture', 'host'],
  lab: ['util', 'packet', 'capture', 'frag', 'pmtu', 'analyze', 'host', 'trace'],
  checker: ['util', 'packet', 'frag', 'pmtu', 'host', 'engine'],
  cli: ['util', 'packet', 'capture', 'frag', 'pmtu', 'analyze', 'host', 'engine', 'relay', 'probe', 'trace', 'lab', 'checker'],
};

/**
 * Files of host-touching areas that hold pure decisions (verdicts, findings, diagnoses): they follow the rules of
 * pure areas, so that what decides a verdict can be tested with exact values and no host.
 */
export const PURE_FILES = ['src/**/*-verdict.ts', 'src/**/*-finding.ts', 'src/**/*-findings.ts', 'src/**/*-diagnosis.ts'];

/** What touches the host: Node modules for processes, sockets, HTTP, the OS and threads, and native packages. */
const HOST_MODULES = [
  'node:child_process', 'node:net', 'node:dgram', 'node:http', 'node:https', 'node:http2', 'node:os', 'node:cluster',
  'node:worker_threads', 'node:dns', 'node:tls', 'child_process', 'net', 'dgram', 'http', 'https', 'os', 'dns',
  'raw-socket', 'mtuscope-nfqueue', 'mtuscope-bpf', 'better-sqlite3', 'pg',
];
/** Files on disk: only capture reads and writes them among the pure areas. */
const FILE_MODULES = ['node:fs', 'node:fs/promises', 'fs', 'fs/promises'];

const HOST_AREAS = Object.keys(AREA_IMPORTS).filter((a) => !PURE_AREAS.includes(a));

/** The import patterns that name another area of src/ from a file of src/<area>/ (at any folder depth). */
function areaPatterns(area) {
  return ['..', '../..', '../../..'].map((up) => `${up}/${area}/*`);
}

function rule(forbiddenAreas, forbiddenModules, why) {
  return {
    'no-restricted-imports': [
      'error',
      {
        paths: forbiddenModules.map((name) => ({ name, message: why })),
        patterns: forbiddenAreas.length === 0 ? [] : [{ group: forbiddenAreas.flatMap(areaPatterns), message: why }],
      },
    ],
  };
}

/**
 * Browser code: the checker's web page script, served with no module loader behind it. On top of its area's
 * directions it may import types only (erased when built), nothing that would have to be loaded at run time;
 * its own TypeScript project gives it the DOM and no Node types.
 */
export const BROWSER_FILES = ['src/checker/page/**/*.ts'];

/**
 * The exceptions: modules the page's script loads at run time (each served by the checker, see page-asset.ts),
 * because the server uses the same code: the packet timeline chart, drawn on the result page and on the web page
 * alike. They are browser code too: they import types only themselves.
 */
export const BROWSER_MODULES = ['src/checker/timeline-chart.ts'];
const BROWSER_MODULE_IMPORTS = ['../timeline-chart.js'];

const browserRule = {
  '@typescript-eslint/no-restricted-imports': [
    'error',
    {
      patterns: [
        {
          regex: `^(?!(${BROWSER_MODULE_IMPORTS.map((m) => m.replace(/[.]/g, '\\.')).join('|')})$)`,
          allowTypeImports: true,
          message: 'browser code is served as a few files: it may import types only (import type), no module at run time but those of BROWSER_MODULES (see docs/ARCHITECTURE.md)',
        },
      ],
    },
  ],
};

export const layeringConfigs = [
  ...Object.entries(AREA_IMPORTS).map(([area, allowed]) => {
    const forbidden = Object.keys(AREA_IMPORTS).filter((a) => a !== area && !allowed.includes(a));
    const pure = PURE_AREAS.includes(area);
    const modules = pure ? [...HOST_MODULES, ...(area === 'capture' ? [] : FILE_MODULES)] : [];
    const why = pure
      ? `src/${area}/ is pure logic: it may import only ${allowed.length === 0 ? 'itself' : `src/{${allowed.join(',')}}/`}, and nothing that touches the host (see docs/ARCHITECTURE.md)`
      : `src/${area}/ may import only src/{${allowed.join(',')}}/ (see docs/ARCHITECTURE.md)`;
    return { files: [`src/${area}/**/*.ts`], rules: rule(forbidden, modules, why) };
  }),
  {
    files: PURE_FILES,
    rules: rule(HOST_AREAS, [...HOST_MODULES, ...FILE_MODULES], 'verdicts, findings and diagnoses are pure decisions over measured evidence: no host area, no host module (see docs/ARCHITECTURE.md)'),
  },
  { files: [...BROWSER_FILES, ...BROWSER_MODULES], rules: browserRule },
];
