import { crc32, deflateRawSync } from 'node:zlib';

/**
 * Hand-made zip archives (stored or deflated entries), including the hostile ones a zip library refuses to
 * write: entries climbing out with `..`, absolute paths, backslashes, symbolic links, encrypted
 * entries, and declared sizes far beyond the bytes present (a bomb by declared expansion).
 */
export interface ZipEntrySpec {
  name: string;
  data?: Buffer;
  /** Unix mode in the external attributes (made by Unix); e.g. 0o120777 for a symlink. */
  unixMode?: number;
  /** Sets the encryption flag (general purpose bit 0). */
  encrypted?: boolean;
  /** Declared uncompressed size (default: the length of `data`). */
  declaredSize?: number;
  /** Stores the entry deflated (a bomb: little data, much expansion). */
  deflate?: boolean;
}

export function makeZip(entries: readonly ZipEntrySpec[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const plain = entry.data ?? Buffer.alloc(0);
    const crc = crc32(plain);
    const data = entry.deflate ? deflateRawSync(plain) : plain;
    const method = entry.deflate ? 8 : 0;
    const flags = 0x0800 | (entry.encrypted ? 1 : 0);
    const size = entry.declaredSize ?? plain.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, data);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(entry.unixMode !== undefined ? (3 << 8) | 20 : 20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(entry.unixMode !== undefined ? (entry.unixMode << 16) >>> 0 : 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += 30 + name.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}
