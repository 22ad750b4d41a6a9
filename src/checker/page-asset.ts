/**
 * The web page's script as the server sends it: src/checker/page/page-script.ts, built by its own TypeScript project
 * (browser code) into dist/browser/. Read once; the page asks for it with every load, and an ETag lets the browser
 * keep its copy until the service runs another build.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where the page loads its script from. */
export const PAGE_SCRIPT_PATH = '/page.js';

export interface StaticAsset {
  readonly body: Buffer;
  readonly contentType: string;
  /** A strong validator of the body, quoted as the ETag header wants it. */
  readonly etag: string;
}

/**
 * The modules the page's script imports at run time, by the path the browser asks for: `../timeline-chart.js` from
 * /page.js is /timeline-chart.js. Each is pure, imports types only, and is shared with the server (the result page
 * draws the same chart), which is why the page is not one file.
 */
export const PAGE_MODULE_PATHS = ['/timeline-chart.js'] as const;

/** This file is dist/src/checker/page-asset.js once built; the browser build sits beside dist/src. */
const BROWSER_BUILD = new URL('../../browser/src/checker/', import.meta.url);
const PAGE_SCRIPT_FILE = new URL('page/page-script.js', BROWSER_BUILD);

function loadAsset(file: URL): StaticAsset {
  let body: Buffer;
  try {
    body = readFileSync(file);
  } catch (err) {
    throw new Error(`the web page's script ${fileURLToPath(file)} is missing: build with npm run build`, { cause: err });
  }
  return {
    body,
    contentType: 'text/javascript; charset=utf-8',
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
  };
}

/** Throws, naming the file, when the browser build is missing (a build that skipped src/checker/page/tsconfig.json). */
export function loadPageScript(): StaticAsset {
  return loadAsset(PAGE_SCRIPT_FILE);
}

/** The page's script and the modules it imports, by path; throws as loadPageScript does. */
export function loadPageScripts(): ReadonlyMap<string, StaticAsset> {
  return new Map([[PAGE_SCRIPT_PATH, loadPageScript()], ...PAGE_MODULE_PATHS.map((path) => [path, loadAsset(new URL(`.${path}`, BROWSER_BUILD))] as const)]);
}
