import type { Context } from 'koa';
import type { HttpProblem } from '../../errors';

/**
 * Glance's error bodies (spec §2): WebOb's plain-text, HTML or flat JSON form, chosen by Accept.
 * glanceclient accepts anything (so reads the HTML form); openstacksdk sends application/json.
 */

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  416: 'Request Range Not Satisfiable',
  431: 'Request Header Fields Too Large',
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};

const STOCK_EXPLANATIONS: Record<number, string> = {
  401: 'This server could not verify that you are authorized to access the document you requested.',
  500: 'The server has either erred or is incapable of performing the requested operation.',
  503: 'The server is currently unavailable. Please try again at a later time.',
};

export function statusTitle(status: number): string {
  return TITLES[status] ?? 'Error';
}

type Flavor = 'plain' | 'html' | 'json';

export function chooseErrorFlavor(accept: string): Flavor {
  const html = acceptQuality(accept, 'text', 'html');
  const json = acceptQuality(accept, 'application', 'json');
  if (html.q <= 0 && json.q <= 0) return 'plain';
  if (json.q > html.q || (json.q === html.q && json.specific)) return 'json';
  return 'html';
}

function acceptQuality(accept: string, type: string, subtype: string): { q: number; specific: boolean } {
  let best = { q: 0, specificity: -1, specific: false };
  for (const part of accept.split(',')) {
    const [range, ...params] = part.trim().toLowerCase().split(';');
    if (!range) continue;
    const [t, s] = range.trim().split('/');
    let specificity = -1;
    if (t === type && s === subtype) specificity = 2;
    else if (t === type && s === '*') specificity = 1;
    else if (t === '*' && s === '*') specificity = 0;
    if (specificity < 0 || specificity < best.specificity) continue;
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    best = { q: Number.isFinite(q) ? q : 0, specificity, specific: specificity === 2 };
  }
  return { q: best.q, specific: best.specific };
}

export function writeGlanceError(ctx: Context, problem: HttpProblem): void {
  const title = statusTitle(problem.status);
  const code = `${problem.status} ${title}`;
  const explanation = problem.expose ? problem.message : (STOCK_EXPLANATIONS[problem.status] ?? problem.message);
  const detail = problem.expose ? (problem.detail ?? '') : '';
  ctx.status = problem.status;
  for (const [name, value] of Object.entries(problem.headers)) ctx.set(name, value);
  if (ctx.method === 'HEAD') {
    // WebOb answers HEAD errors as HTML with no body, whatever the Accept
    ctx.type = 'text/html; charset=UTF-8';
    ctx.body = '';
    return;
  }
  switch (chooseErrorFlavor(ctx.get('accept'))) {
    case 'json':
      ctx.set('Content-Type', 'application/json');
      ctx.body = JSON.stringify({ message: `${explanation}<br /><br />\n${detail}\n\n`, code, title });
      return;
    case 'html':
      ctx.type = 'text/html; charset=UTF-8';
      ctx.body =
        `<html>\n <head>\n  <title>${code}</title>\n </head>\n <body>\n  <h1>${code}</h1>\n  ` +
        `${escapeHtml(explanation)}<br /><br />\n${escapeHtml(detail)}\n\n\n </body>\n</html>`;
      return;
    default:
      ctx.type = 'text/plain; charset=UTF-8';
      ctx.body = `${code}\n\n${explanation}\n\n${detail}\n\n   `;
  }
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
