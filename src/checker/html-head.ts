import { escapeHtml } from './escape-html.js';

export interface HtmlHead {
  readonly title: string;
  /** The page's Content-Security-Policy; every page of the service has one. */
  readonly contentSecurityPolicy: string;
  /** The page's CSS, inline. */
  readonly style: string;
}

/** The start of a page of the service, up to and with its `<body>`: UTF-8, a mobile viewport, its policy and style. */
export function htmlHead(head: HtmlHead): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(head.contentSecurityPolicy)}">
<title>${escapeHtml(head.title)}</title>
<style>${head.style}</style>
</head>
<body>`;
}
