import { PassThrough, type Readable } from 'node:stream';
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
/** Largest block of part headers. */
const MAX_HEADER_BYTES = 16 * 1024;
const EMPTY = Buffer.alloc(0);


/** The multipart boundary of a Content-Type, or null when it is not multipart/form-data. */
export function multipartBoundary(contentType: string): string | null {
  if (!/^\s*multipart\/form-data\s*(;|$)/i.test(contentType)) return null;
  const match = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  return match ? (match[1] ?? match[2].trim()) : null;
}

/**
 * Starts reading `body` and resolves once the file part's headers are in (or the body ended
 * without one). A body that is not well-formed multipart before the file counts as "no file";
 * after it, the file stream fails. Part data is found with Buffer.indexOf (native search), so the
 * bytes of a big file are not walked one by one in JavaScript.
 */
export function readStreamedForm(body: Readable, boundary: string, fileField: string): Promise<StreamedForm> {
  const delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
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
      body.destroy();
    },
  });

  // `complete` is assigned before any part is handled: the loop awaits the body first
  const run = async (): Promise<ReadonlyMap<string, string>> => {
    let state = 'preamble' as 'preamble' | 'delimited' | 'headers' | 'data' | 'done';
    // read through a function: the parts loop changes `state` where the compiler's narrowing cannot see it
    const scanning = () => state === 'data' || state === 'preamble';
    let current: 'file' | 'field' | 'skip' = 'skip';
    let fieldName = '';
    let fieldBytes: Buffer[] = [];
    let fieldSize = 0;
    // the first delimiter has no CRLF before it: start as if one had come
    let pending: Buffer = Buffer.from('\r\n');

    const beginPart = (headers: string) => {
      let disposition = '';
      for (const line of headers.split('\r\n')) {
        const colon = line.indexOf(':');
        if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === 'content-disposition') disposition = line.slice(colon + 1);
      }
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
    };
    const partData = async (data: Buffer) => {
      if (data.length === 0) return;
      if (current === 'file' && file) {
        if (!file.stream.destroyed && !file.stream.write(data)) await drained(file.stream);
        if (closed || file.stream.destroyed) throw new Error('the file part is no longer read');
      } else if (current === 'field') {
        fieldSize += data.length;
        if (fieldSize > MAX_FIELD_BYTES) throw new GlintError('BAD_REQUEST', `form field ${fieldName} is larger than ${MAX_FIELD_BYTES} bytes`);
        fieldBytes.push(Buffer.from(data));
      }
    };
    const endPart = () => {
      if (current === 'file' && file) file.stream.end();
      else if (current === 'field' && !fields.has(fieldName)) fields.set(fieldName, Buffer.concat(fieldBytes).toString('utf8'));
      current = 'skip';
    };

    for await (const chunk of body as AsyncIterable<Buffer>) {
      let buffer = chunk;
      if (pending.length > 0 && scanning()) {
        // only a delimiter starting in the held-back bytes needs them joined to the chunk; the
        // common case passes them on and searches the chunk as it is (no copy of the chunk)
        const seam = Buffer.concat([pending, chunk.subarray(0, delimiter.length - 1)]).indexOf(delimiter);
        const tooShortToTell = chunk.length < delimiter.length - 1;
        if (tooShortToTell || (seam >= 0 && seam < pending.length)) buffer = Buffer.concat([pending, chunk]);
        else if ((state as string) === 'data') await partData(pending);
      } else if (pending.length > 0) {
        buffer = Buffer.concat([pending, chunk]);
      }
      pending = EMPTY;
      for (;;) {
        if (state === 'done') break;
        if (state === 'preamble' || state === 'data') {
          const at = buffer.indexOf(delimiter);
          if (at < 0) {
            // keep what could be the start of a delimiter cut by the chunk's end (usually nothing)
            const keep = delimiterPrefixAtEnd(buffer, delimiter);
            if (state === 'data') await partData(buffer.subarray(0, buffer.length - keep));
            pending = buffer.subarray(buffer.length - keep);
            break;
          }
          if (state === 'data') {
            await partData(buffer.subarray(0, at));
            endPart();
          }
          buffer = buffer.subarray(at + delimiter.length);
          state = 'delimited';
        }
        if (state === 'delimited') {
          if (buffer.length < 2) {
            pending = buffer;
            break;
          }
          if (buffer[0] === 0x2d && buffer[1] === 0x2d) {
            state = 'done';
            break;
          }
          // transport padding may follow the delimiter before its CRLF
          const lineEnd = buffer.indexOf('\r\n');
          if (lineEnd < 0) {
            if (buffer.length > MAX_HEADER_BYTES) throw malformed();
            pending = buffer;
            break;
          }
          if (buffer.subarray(0, lineEnd).toString('latin1').trim() !== '') throw malformed();
          buffer = buffer.subarray(lineEnd + 2);
          state = 'headers';
        }
        if (state === 'headers') {
          const end = buffer.indexOf('\r\n\r\n');
          // a part without headers starts with the blank line itself
          const headersEnd = buffer.subarray(0, 2).toString('latin1') === '\r\n' ? 0 : end;
          if (headersEnd < 0) {
            if (buffer.length > MAX_HEADER_BYTES) throw malformed();
            pending = buffer;
            break;
          }
          beginPart(headersEnd === 0 ? '' : buffer.toString('utf8', 0, headersEnd));
          buffer = buffer.subarray(headersEnd === 0 ? 2 : headersEnd + 4);
          state = 'data';
        }
      }
    }
    if (state !== 'done') throw malformed();
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
  return announced;
}

/** Length of the longest end of `buffer` that is a start of `delimiter` (it begins with CR). */
function delimiterPrefixAtEnd(buffer: Buffer, delimiter: Buffer): number {
  for (let at = buffer.indexOf(0x0d, Math.max(0, buffer.length - delimiter.length + 1)); at >= 0; at = buffer.indexOf(0x0d, at + 1)) {
    if (buffer.subarray(at).equals(delimiter.subarray(0, buffer.length - at))) return buffer.length - at;
  }
  return 0;
}

function malformed(): GlintError {
  return new GlintError('BAD_REQUEST', 'malformed multipart/form-data body');
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
