import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MultipartParser } from 'formidable';
import { GlintError } from '../../../domain/errors';

/**
 * A multipart/form-data body read as it streams: small fields are collected, the one file part
 * is handed over as a stream (backpressure reaches the socket: the parser is consumed no faster
 * than the file's reader takes the bytes), never written to a temp file nor held in memory.
 */
export interface StreamedForm {
  /** Fields that came before the file part (all of them when there is no file). */
  fields: ReadonlyMap<string, string>;
  /** The first part named like the file field that carries a filename; null when the body has none. */
  file: { fileName: string; stream: Readable } | null;
  /** Every field, once the body has been read to its end (fields after the file included). */
  complete: Promise<ReadonlyMap<string, string>>;
  /** Stops reading: the file stream and the parser are destroyed (call in `finally`). */
  close(): void;
}

/** Largest text field accepted; EdgeGallery's fields are ids and short names. */
const MAX_FIELD_BYTES = 64 * 1024;

interface PartEvent {
  name: 'partBegin' | 'headerField' | 'headerValue' | 'headerEnd' | 'headersEnd' | 'partData' | 'partEnd' | 'end';
  buffer?: Buffer;
  start?: number;
  end?: number;
}

/** The multipart boundary of a Content-Type, or null when it is not multipart/form-data. */
export function multipartBoundary(contentType: string): string | null {
  if (!/^\s*multipart\/form-data\s*(;|$)/i.test(contentType)) return null;
  const match = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  return match ? (match[1] ?? match[2].trim()) : null;
}

/**
 * Starts reading `body` and resolves once the file part's headers are in (or the body ended
 * without one). A body that is not well-formed multipart before the file counts as "no file";
 * after it, the file stream fails.
 */
export function readStreamedForm(body: Readable, boundary: string, fileField: string): Promise<StreamedForm> {
  const parser = new MultipartParser();
  parser.initWithBoundary(boundary);
  const fields = new Map<string, string>();
  let closed = false;
  let file: { fileName: string; stream: PassThrough } | null = null;
  let announce: (form: StreamedForm) => void = () => undefined;
  const announced = new Promise<StreamedForm>((resolve) => (announce = resolve));
  const form = (complete: Promise<ReadonlyMap<string, string>>): StreamedForm => ({
    fields: new Map(fields),
    file,
    complete,
    close() {
      closed = true;
      file?.stream.destroy();
      parser.destroy();
    },
  });

  const parsing = pipeline(body, parser);
  // `complete` is assigned before any event is handled: the loop awaits the parser first
  const run = async (): Promise<ReadonlyMap<string, string>> => {
    let headerField = '';
    let headerValue = '';
    let disposition = '';
    let current: 'file' | 'field' | 'skip' = 'skip';
    let fieldName = '';
    let fieldBytes: Buffer[] = [];
    let fieldSize = 0;
    for await (const event of parser as AsyncIterable<PartEvent>) {
      const { name, buffer, start = 0, end = 0 } = event;
      switch (name) {
        case 'partBegin':
          headerField = headerValue = disposition = '';
          break;
        case 'headerField':
          headerField += buffer ? buffer.toString('utf8', start, end) : '';
          break;
        case 'headerValue':
          headerValue += buffer ? buffer.toString('utf8', start, end) : '';
          break;
        case 'headerEnd':
          if (headerField.trim().toLowerCase() === 'content-disposition') disposition = headerValue;
          headerField = headerValue = '';
          break;
        case 'headersEnd': {
          const partName = dispositionParameter(disposition, 'name');
          const fileName = dispositionFileName(disposition);
          if (partName === fileField && fileName && file === null) {
            current = 'file';
            file = { fileName, stream: new PassThrough() };
            announce(form(complete));
          } else if (partName !== null && fileName === null) {
            current = 'field';
            fieldName = partName;
            fieldBytes = [];
            fieldSize = 0;
          } else {
            current = 'skip';
          }
          break;
        }
        case 'partData':
          if (!buffer || end <= start) break;
          if (current === 'file' && file) {
            // the parser's lookbehind buffer is reused by its next write: copy what comes from it
            const reused = buffer === (parser as unknown as { lookbehind?: Buffer }).lookbehind;
            const chunk = reused ? Buffer.from(buffer.subarray(start, end)) : buffer.subarray(start, end);
            if (!file.stream.destroyed && !file.stream.write(chunk)) await drained(file.stream);
            if (closed || file.stream.destroyed) throw new Error('the file part is no longer read');
          } else if (current === 'field') {
            fieldSize += end - start;
            if (fieldSize > MAX_FIELD_BYTES) throw new GlintError('BAD_REQUEST', `form field ${fieldName} is larger than ${MAX_FIELD_BYTES} bytes`);
            fieldBytes.push(Buffer.from(buffer.subarray(start, end)));
          }
          break;
        case 'partEnd':
          if (current === 'file' && file) file.stream.end();
          else if (current === 'field' && !fields.has(fieldName)) fields.set(fieldName, Buffer.concat(fieldBytes).toString('utf8'));
          current = 'skip';
          break;
        case 'end':
          break;
      }
    }
    await parsing;
    return new Map(fields);
  };
  const complete = run();
  complete.then(
    () => announce(form(complete)),
    (err: unknown) => {
      if (file) file.stream.destroy(err instanceof Error ? err : new Error(String(err)));
      // before the file part, a malformed body simply has no file
      announce(form(complete));
    },
  );
  // whoever reads `complete` sees the failure; nobody reading it is no unhandled rejection
  complete.catch(() => undefined);
  parsing.catch(() => undefined);
  return announced;
}

function drained(stream: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
  });
}

/** A Content-Disposition parameter (`name`, `filename`), unquoted; null when absent. */
function dispositionParameter(value: string, parameter: string): string | null {
  const pattern = new RegExp(`(?:^|;)\\s*${parameter}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]+))`, 'i');
  const match = pattern.exec(value);
  if (!match) return null;
  return match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : match[2];
}

/** The part's file name: RFC 5987 `filename*` when present, else `filename`; null when neither (or empty). */
function dispositionFileName(value: string): string | null {
  const extended = /(?:^|;)\s*filename\*\s*=\s*([^']*)'[^']*'([^;\s]+)/i.exec(value);
  if (extended) {
    try {
      const decoded = decodeURIComponent(extended[2]);
      if (decoded) return decoded;
    } catch {
      // a malformed extended name: fall back to the plain one
    }
  }
  const plain = dispositionParameter(value, 'filename');
  return plain ? plain : null;
}
