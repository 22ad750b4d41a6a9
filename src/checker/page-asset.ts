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

/** This file is dist/src/checker/page-asset.js once built; the browser build sits beside dist/src. */
const PAGE_SCRIPT_FILE = new URL('../../browser/src/checker/page/page-script.js', import.meta.url);

/** Throws, naming the file, when the browser build is missing (a build that skipped src/checker/page/tsconfig.json). */
export function loadPageScript(): StaticAsset {
  let body: Buffer;
  try {
    body = readFileSync(PAGE_SCRIPT_FILE);
  } catch (err) {
    throw new Error(`the web page's script ${fileURLToPath(PAGE_SCRIPT_FILE)} is missing: build with npm run build`, { cause: err });
  }
  return {
    body,
    contentType: 'text/javascript; charset=utf-8',
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
  };
}
