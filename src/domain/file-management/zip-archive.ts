import { PassThrough, type Readable } from 'node:stream';
import * as yauzl from 'yauzl';
import type { BlobStore } from '../../stores/blob-store';
import { GlintError } from '../errors';

/** What an archive may hold before it is refused (`[edgegallery] zip_max_entries`, `zip_max_expanded_size`). */
export interface ZipLimits {
  maxEntries: number;
  maxExpandedBytes: number;
}

/** The image inside an archive: its first file entry, checked, ready to stream. */
export interface ZipImage {
  /** The entry's base name (the record's fileName). */
  fileName: string;
  /** Its expanded size, as the archive declares it (yauzl checks the bytes against it). */
  size: number;
  open(): Promise<Readable>;
  close(): void;
}

/** Bytes read ahead per catalogue read, so walking the central directory costs a few ranged GETs, not two per entry. */
const READ_AHEAD = 256 * 1024;
/** Unix file type bits in the high half of externalFileAttributes. */
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
/** A `madeBy` of 3 is Unix: only then do the high attribute bits carry a file mode. */
const MADE_BY_UNIX = 3;

/**
 * Opens the zip stored under `key` by random access over the store's ranged reads (the archive is
 * never read whole), checks every entry before anything is unpacked, and returns its first file
 * entry. Refused: more entries or more expanded bytes than `limits` (FILE_ZIP_TOO_LARGE, 413);
 * an entry that is absolute, climbs out with `..`, carries a backslash, is a symlink or is
 * encrypted (FILE_ZIP_ENTRY_UNSAFE); a file that is no readable zip or holds no file entry
 * (FILE_ZIP_INVALID).
 */
export async function openZipImage(store: BlobStore, key: string, size: number, limits: ZipLimits): Promise<ZipImage> {
  const reader = new StoreRangeReader(store, key, size);
  let zipfile: yauzl.ZipFile;
  try {
    zipfile = await new Promise<yauzl.ZipFile>((resolve, reject) => {
      yauzl.fromRandomAccessReader(reader, size, { lazyEntries: true, autoClose: false, strictFileNames: true, validateEntrySizes: true }, (err, opened) =>
        err ? reject(err) : resolve(opened),
      );
    });
  } catch (err) {
    throw zipError(err);
  }
  try {
    if (zipfile.entryCount > limits.maxEntries) {
      throw new GlintError('FILE_ZIP_TOO_LARGE', `zip archive has ${zipfile.entryCount} entries, more than the ${limits.maxEntries} allowed`);
    }
    const first = await firstFileEntry(zipfile, limits);
    const fileName = first.fileName.slice(first.fileName.lastIndexOf('/') + 1);
    return {
      fileName,
      size: first.uncompressedSize,
      open: () =>
        new Promise<Readable>((resolve, reject) => {
          zipfile.openReadStream(first, (err, stream) => (err ? reject(zipError(err)) : resolve(stream)));
        }),
      close: () => zipfile.close(),
    };
  } catch (err) {
    zipfile.close();
    throw err;
  }
}

/** Walks every entry (checking each), keeping the first file entry. */
function firstFileEntry(zipfile: yauzl.ZipFile, limits: ZipLimits): Promise<yauzl.Entry> {
  return new Promise((resolve, reject) => {
    let first: yauzl.Entry | null = null;
    let expanded = 0;
    zipfile.on('entry', (entry: yauzl.Entry) => {
      try {
        checkEntry(entry);
        expanded += entry.uncompressedSize;
        if (expanded > limits.maxExpandedBytes) {
          throw new GlintError('FILE_ZIP_TOO_LARGE', `zip archive expands to more than the ${limits.maxExpandedBytes} bytes allowed`);
        }
        if (first === null && !entry.fileName.endsWith('/')) first = entry;
        zipfile.readEntry();
      } catch (err) {
        reject(err);
      }
    });
    zipfile.once('end', () => {
      if (first === null) reject(new GlintError('FILE_ZIP_INVALID', 'Failed to decompress zip file'));
      else resolve(first);
    });
    zipfile.once('error', (err: unknown) => reject(zipError(err)));
    zipfile.readEntry();
  });
}

function checkEntry(entry: yauzl.Entry): void {
  const name = entry.fileName;
  // yauzl refuses these too (strictFileNames); checked here as well so the rule does not hang on an option
  if (name.includes('\\') || name.includes('\0')) unsafe(`zip entry ${JSON.stringify(name)} contains a backslash or NUL`);
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) unsafe(`zip entry ${JSON.stringify(name)} is an absolute path`);
  if (name.split('/').includes('..')) unsafe(`zip entry ${JSON.stringify(name)} climbs out of the archive with ..`);
  const madeBy = entry.versionMadeBy >> 8;
  if (madeBy === MADE_BY_UNIX && ((entry.externalFileAttributes >>> 16) & S_IFMT) === S_IFLNK) {
    unsafe(`zip entry ${JSON.stringify(name)} is a symbolic link`);
  }
  if (entry.isEncrypted()) unsafe(`zip entry ${JSON.stringify(name)} is encrypted`);
}

function unsafe(message: string): never {
  throw new GlintError('FILE_ZIP_ENTRY_UNSAFE', message);
}

/** yauzl's own refusals in the surface's terms. */
function zipError(err: unknown): unknown {
  if (err instanceof GlintError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/^(absolute path|invalid relative path|invalid characters in fileName)/.test(message)) {
    return new GlintError('FILE_ZIP_ENTRY_UNSAFE', `zip entry refused: ${message}`, undefined, { cause: err });
  }
  if (/encrypted/i.test(message)) return new GlintError('FILE_ZIP_ENTRY_UNSAFE', `zip entry refused: ${message}`, undefined, { cause: err });
  // store failures keep their own meaning (the caller translates them)
  if ((err as { name?: unknown } | null)?.name === 'StoreError') return err;
  return new GlintError('FILE_ZIP_INVALID', 'Failed to decompress zip file', message, { cause: err });
}

/**
 * yauzl's random-access source over a store object: ranged GETs, with a read-ahead window for the
 * many small reads of the central directory and local headers.
 */
class StoreRangeReader extends yauzl.RandomAccessReader {
  private window: { start: number; bytes: Buffer } | null = null;

  constructor(
    private readonly store: BlobStore,
    private readonly key: string,
    private readonly size: number,
  ) {
    super();
  }

  override _readStreamForRange(start: number, end: number): Readable {
    const out = new PassThrough();
    if (end <= start) {
      out.end();
      return out;
    }
    this.store.get(this.key, { start, end: end - 1 }).then(
      (opened) => {
        opened.body.once('error', (err) => out.destroy(err));
        opened.body.pipe(out);
        out.once('close', () => opened.body.destroy());
      },
      (err: unknown) => out.destroy(err as Error),
    );
    return out;
  }

  override read(buffer: Buffer, offset: number, length: number, position: number, callback: (err: Error | null) => void): void {
    const cached = this.window;
    if (cached && position >= cached.start && position + length <= cached.start + cached.bytes.length) {
      cached.bytes.copy(buffer, offset, position - cached.start, position - cached.start + length);
      callback(null);
      return;
    }
    const end = Math.min(this.size, position + Math.max(length, READ_AHEAD));
    this.readAll(position, end).then(
      (bytes) => {
        let failure: Error | null = null;
        if (bytes.length < length) failure = new Error('unexpected end of zip data');
        else {
          this.window = { start: position, bytes };
          bytes.copy(buffer, offset, 0, length);
        }
        // outside the promise: a throw in yauzl's callback must not come back here as a rejection
        process.nextTick(callback, failure);
      },
      (err: unknown) => process.nextTick(callback, err as Error),
    );
  }

  private async readAll(start: number, end: number): Promise<Buffer> {
    if (end <= start) return Buffer.alloc(0);
    const opened = await this.store.get(this.key, { start, end: end - 1 });
    if (opened.bytes) return opened.bytes;
    const chunks: Buffer[] = [];
    for await (const chunk of opened.body as AsyncIterable<Buffer>) chunks.push(chunk);
    return Buffer.concat(chunks);
  }
}
