import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';

const BLOCK = 16 * 1024 * 1024;

/**
 * Writes `size` bytes of incompressible test data: one random 16 MiB block, repeated with the
 * block number stamped over its first bytes so no two blocks are equal. Returns the md5 (Glance's
 * `checksum`) so the bench can check what glint stored.
 */
export function makeBlob(path: string, size: number, options: { md5?: boolean } = {}): { md5: string | null } {
  const block = randomFillSync(Buffer.allocUnsafe(BLOCK));
  const md5 = options.md5 === false ? null : createHash('md5');
  const fd = openSync(path, 'w');
  try {
    let written = 0;
    for (let n = 0; written < size; n++) {
      block.writeUInt32BE(n, 0);
      const chunk = size - written >= BLOCK ? block : block.subarray(0, size - written);
      md5?.update(chunk);
      let offset = 0;
      while (offset < chunk.length) offset += writeSync(fd, chunk, offset, chunk.length - offset);
      written += chunk.length;
    }
  } finally {
    closeSync(fd);
  }
  return { md5: md5 ? md5.digest('hex') : null };
}
