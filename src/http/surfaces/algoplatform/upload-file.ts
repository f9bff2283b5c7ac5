import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MultipartParser } from 'formidable';
import type { Context } from 'koa';
import { GlintError } from '../../../domain/errors';
import { contentLength, mediaType, releaseRequestBody, requestBodyStream } from '../../body';
import { MESSAGES } from './envelope';

/** The form field `_upload` reads its file from. */
export const FILE_FIELD = 'file';
/** Bytes a multipart body may carry besides the file: boundaries, part headers, small fields. */
const MULTIPART_OVERHEAD = 64 * 1024;

interface PartEvent {
  name: 'partBegin' | 'headerField' | 'headerValue' | 'headerEnd' | 'headersEnd' | 'partData' | 'partEnd' | 'end';
  buffer?: Buffer;
  start?: number;
  end?: number;
}

function tooLarge(maxBytes: number): GlintError {
  return new GlintError('REQUEST_BODY_TOO_LARGE', `${MESSAGES.unreadableFile}: the file is larger than ${maxBytes} bytes`);
}

/** Fails the stream as soon as more than `maxBytes` went through. */
function byteLimit(maxBytes: number, error: () => GlintError): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      seen += chunk.length;
      if (seen > maxBytes) callback(error());
      else callback(null, chunk);
    },
  });
}

/** The `name` parameter of a Content-Disposition value. */
function dispositionName(value: string): string | null {
  const match = /(?:^|;)\s*name\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(value);
  if (!match) return null;
  return match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : match[2];
}

/**
 * The bytes of the `_upload` file, read from the request as it streams in, never from a temp
 * file: the `file` part of a multipart/form-data body (with or without a filename), or any other
 * non-empty body taken whole as the file. Null when there is no file (no body, no `file` part,
 * a malformed multipart body). Over `maxBytes` fails with REQUEST_BODY_TOO_LARGE as soon as the
 * limit is passed (or at once from Content-Length).
 */
export async function readUploadedFile(ctx: Context, maxBytes: number): Promise<Buffer | null> {
  const multipart = mediaType(ctx) === 'multipart/form-data';
  const boundary = multipart ? /boundary=(?:"([^"]+)"|([^;]+))/i.exec(ctx.get('content-type')) : null;
  const bodyLimit = multipart ? maxBytes + MULTIPART_OVERHEAD : maxBytes;
  const declared = contentLength(ctx);
  if (declared !== undefined && declared > bodyLimit) throw tooLarge(maxBytes);
  if (declared === 0 || (multipart && !boundary)) return null;

  const body = requestBodyStream(ctx);
  try {
    if (!boundary) {
      const chunks: Buffer[] = [];
      const collect = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          chunks.push(chunk);
          callback();
        },
      });
      await pipeline(body, byteLimit(maxBytes, () => tooLarge(maxBytes)), collect);
      const bytes = Buffer.concat(chunks);
      return bytes.length > 0 ? bytes : null;
    }
    return await readFilePart(body, boundary[1] ?? boundary[2].trim(), maxBytes);
  } finally {
    releaseRequestBody(ctx, body);
  }
}

async function readFilePart(body: NodeJS.ReadableStream, boundary: string, maxBytes: number): Promise<Buffer | null> {
  const parser = new MultipartParser();
  parser.initWithBoundary(boundary);
  let headerField = '';
  let headerValue = '';
  let partName: string | null = null;
  let reading = false;
  let size = 0;
  let chunks: Buffer[] = [];
  const found: { file: Buffer | null } = { file: null };
  // Events are handled as they are pushed: their buffers are the parser's and get reused.
  parser.on('data', ({ name, buffer, start, end }: PartEvent) => {
    const text = () => (buffer ? buffer.toString('utf8', start, end) : '');
    switch (name) {
      case 'partBegin':
        partName = null;
        headerField = '';
        headerValue = '';
        break;
      case 'headerField':
        headerField += text();
        break;
      case 'headerValue':
        headerValue += text();
        break;
      case 'headerEnd':
        if (headerField.trim().toLowerCase() === 'content-disposition') partName = dispositionName(headerValue);
        headerField = '';
        headerValue = '';
        break;
      case 'headersEnd':
        reading = partName === FILE_FIELD && found.file === null;
        chunks = [];
        size = 0;
        break;
      case 'partData':
        if (!reading || !buffer) break;
        size += (end ?? 0) - (start ?? 0);
        if (size > maxBytes) parser.destroy(tooLarge(maxBytes));
        else chunks.push(Buffer.from(buffer.subarray(start, end)));
        break;
      case 'partEnd':
        if (reading) found.file = Buffer.concat(chunks);
        reading = false;
        break;
    }
  });
  try {
    await pipeline(body, byteLimit(maxBytes + MULTIPART_OVERHEAD, () => tooLarge(maxBytes)), parser);
  } catch (err) {
    if (err instanceof GlintError || (err as { code?: unknown }).code === 'ECONNRESET') throw err;
    // a malformed body (bad boundary, parts cut short): there is no file to read
    return null;
  }
  return found.file && found.file.length > 0 ? found.file : null;
}
