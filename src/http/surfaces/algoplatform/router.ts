import type { Context } from 'koa';
import type { AlgorithmService } from '../../../domain/algorithms/algorithm-service';
import { fail } from '../../../domain/errors';
import { GlintHttpError } from '../../errors';
import { readJson } from '../../body';
import { failure, MESSAGES, sendEnvelope, success } from './envelope';
import { orderedEntries } from './ordered-entries';
import { presentExport, presentImportFailures, presentSearch } from './present';
import { asObject, parseDelete, parseImportEntry, parseRegister, parseSearch, parseUpdate, textValue } from './record-request';
import { readUploadedFile } from './upload-file';

export const BASE_PATH = '/algoPlatform/images';
/** File name of `_load`'s download (what the platform wrote next to itself). */
export const EXPORT_FILE_NAME = 'image_list.json';

export interface AlgoPlatformRouteOptions {
  algorithms: AlgorithmService;
  /** Bytes of the largest `_upload` file. */
  uploadSizeCap: number;
}

type Handler = (ctx: Context) => Promise<void>;

/** A JSON object body; an empty body reads as `{}` (its required fields then decide). */
async function readBody(ctx: Context): Promise<Record<string, unknown>> {
  if (ctx.get('content-length') === '0' || (!ctx.get('content-length') && !ctx.get('transfer-encoding'))) return {};
  return asObject(await readJson(ctx));
}

/** The six operations, each: parse → call the registry → present. All are POST. */
export function createRoutes(options: AlgoPlatformRouteOptions): Map<string, Handler> {
  const { algorithms, uploadSizeCap } = options;
  return new Map<string, Handler>([
    [
      '_register',
      async (ctx) => {
        await algorithms.register(parseRegister(await readBody(ctx)));
        sendEnvelope(ctx, success(null, MESSAGES.registered));
      },
    ],
    [
      '_search',
      async (ctx) => {
        const images = await algorithms.search(parseSearch(await readBody(ctx)));
        sendEnvelope(ctx, success(presentSearch(images), MESSAGES.found));
      },
    ],
    [
      '_update',
      async (ctx) => {
        await algorithms.update(parseUpdate(await readBody(ctx)));
        sendEnvelope(ctx, success(null, MESSAGES.updated));
      },
    ],
    [
      '_delete',
      async (ctx) => {
        await algorithms.delete(parseDelete(await readBody(ctx)));
        sendEnvelope(ctx, success(null, MESSAGES.deleted));
      },
    ],
    [
      '_load',
      async (ctx) => {
        // the namespace is not a filter here, as on the platform
        const exported = presentExport(await algorithms.export(textValue(await readBody(ctx), 'searchCondition')));
        if (wantsDownload(ctx)) {
          ctx.status = 200;
          ctx.type = 'application/json';
          ctx.attachment(EXPORT_FILE_NAME);
          ctx.body = JSON.stringify(exported);
          return;
        }
        sendEnvelope(ctx, success(exported, MESSAGES.exported));
      },
    ],
    [
      '_upload',
      async (ctx) => {
        const file = await readUploadedFile(ctx, uploadSizeCap);
        const entries = file ? readEntries(file) : null;
        if (!entries) return sendEnvelope(ctx, failure(MESSAGES.unreadableFile));
        const failures = await algorithms.import(entries.map(([, value]) => parseImportEntry(value)));
        sendEnvelope(ctx, failures.length > 0 ? failure(presentImportFailures(failures)) : success(null, MESSAGES.imported));
      },
    ],
  ]);
}

/** `?download` (any value but false/0): `_load` answers with image_list.json itself, as an attachment. */
function wantsDownload(ctx: Context): boolean {
  const value = ctx.query.download;
  if (value === undefined) return false;
  const text = Array.isArray(value) ? value[value.length - 1] : value;
  return text !== 'false' && text !== '0';
}

function readEntries(file: Buffer): Array<[string, unknown]> | null {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(file);
  } catch {
    return null;
  }
  return orderedEntries(text.replace(/^\uFEFF/, ''));
}

/**
 * Dispatches a request under /algoPlatform: the operation named by the last path segment (one
 * trailing slash allowed, as Spring allowed it). Other paths are 404, other methods 405.
 */
export function createDispatcher(routes: Map<string, Handler>): Handler {
  return async (ctx) => {
    const path = ctx.path.endsWith('/') ? ctx.path.slice(0, -1) : ctx.path;
    const operation = path.startsWith(`${BASE_PATH}/`) ? path.slice(BASE_PATH.length + 1) : null;
    const handler = operation !== null ? routes.get(operation) : undefined;
    if (!handler) fail('ROUTE_NOT_FOUND', `No such operation: ${ctx.path}`);
    if (ctx.method !== 'POST') {
      throw new GlintHttpError('METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on ${ctx.path}; use POST`).withHeaders({ Allow: 'POST' });
    }
    await handler(ctx);
  };
}
