import { PassThrough, type Readable } from 'node:stream';
import type { Context } from 'koa';
import { fail } from '../domain/errors';

/** Declared Content-Length, if any and valid; a malformed header is the client's mistake. */
export function contentLength(ctx: Context): number | undefined {
  const raw = ctx.get('content-length');
  if (!raw) return undefined;
  if (!/^\d+$/.test(raw)) fail('BAD_REQUEST', `Invalid Content-Length: ${raw}`);
  return Number(raw);
}

/** Deepest nesting of arrays and objects a JSON body may have; no route needs more than a few levels. */
export const MAX_JSON_DEPTH = 64;

/**
 * Reads and parses a JSON body whatever its Content-Type says (Glance does not check it).
 * Invalid UTF-8, malformed JSON, nesting deeper than MAX_JSON_DEPTH and missing bodies are 400;
 * over `maxBytes` is 413. The depth is checked before parsing, so no later walk of the value
 * (validation, copying, presenting) can overflow the stack.
 */
export async function readJson(ctx: Context, maxBytes = 1024 * 1024): Promise<unknown> {
  const chunks: Buffer[] = [];
  let total = 0;
  // Through the detachable stream: giving up early must not reset the connection the 413 goes back on.
  const body = requestBodyStream(ctx);
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > maxBytes) fail('REQUEST_BODY_TOO_LARGE', `Request body larger than ${maxBytes} bytes.`);
      chunks.push(chunk);
    }
  } finally {
    releaseRequestBody(ctx, body);
  }
  if (total === 0) fail('BAD_JSON', 'Body expected in request.');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    fail('BAD_JSON', 'Request body is not valid UTF-8.');
  }
  if (jsonDepth(text) > MAX_JSON_DEPTH) fail('BAD_JSON', `Malformed JSON in request body: nested deeper than ${MAX_JSON_DEPTH} levels.`);
  try {
    return JSON.parse(text);
  } catch {
    fail('BAD_JSON', 'Malformed JSON in request body.');
  }
}

/**
 * The deepest bracket nesting of a JSON text, outside strings; one pass, no recursion. Malformed
 * text gets a number too (JSON.parse refuses it afterwards).
 */
export function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > deepest) deepest = depth;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return deepest;
}

/** A JSON object body (not an array or scalar). */
export async function readJsonObject(ctx: Context): Promise<Record<string, unknown>> {
  const body = await readJson(ctx);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) fail('BAD_JSON', 'Expected a JSON object in the request body.');
  return body as Record<string, unknown>;
}

/** Media type without parameters, lower-cased; '' when absent. */
export function mediaType(ctx: Context): string {
  return (ctx.get('content-type').split(';')[0] ?? '').trim().toLowerCase();
}

/** An AbortSignal that fires when the client goes away before the response is complete. */
export function clientAbortSignal(ctx: Context): AbortSignal {
  const controller = new AbortController();
  const onClose = () => {
    if (!ctx.res.writableFinished) controller.abort(new Error('client closed the connection'));
  };
  ctx.req.once('aborted', onClose);
  ctx.res.once('close', onClose);
  return controller.signal;
}

/** True once the client is gone: its request was cut short or the response can no longer be sent. */
export function clientGone(ctx: Context): boolean {
  return ctx.res.destroyed || (ctx.req.destroyed && !ctx.req.complete);
}

/**
 * The request body as a stream a consumer may destroy on failure (size cap, quota, store error)
 * without destroying the request, which would reset the connection the error response has to
 * go back on. A client that disconnects mid-body ends the stream with an error. Call
 * `releaseRequestBody` once the service is done with it.
 */
export function requestBodyStream(ctx: Context): Readable {
  const req = ctx.req;
  const body = new PassThrough();
  const onCut = () => {
    if (!req.complete) body.destroy(Object.assign(new Error('client closed the connection'), { code: 'ECONNRESET' }));
  };
  req.once('aborted', onCut);
  req.once('close', onCut);
  req.once('error', (err) => body.destroy(err));
  req.pipe(body);
  body.once('close', () => req.unpipe(body));
  return body;
}

/**
 * Ends the use of a `requestBodyStream`. When the body was not read to its end (the upload was
 * refused or failed), the rest is drained and the connection is closed after the response, so
 * the unread bytes cannot be taken for the next request.
 */
export function releaseRequestBody(ctx: Context, body: Readable): void {
  const req = ctx.req;
  if (!req.complete && !req.destroyed) {
    if (!ctx.headerSent) ctx.set('Connection', 'close');
    req.unpipe();
    req.resume();
  }
  body.destroy();
}
