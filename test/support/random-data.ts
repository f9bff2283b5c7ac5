import { randomBytes } from 'node:crypto';

/**
 * `n` random bytes that never look like a disk with an MBR (0x55 0xAA at offset 510). Random data
 * has those two bytes once in 65,536 draws, and glint, as Glance, refuses an upload whose MBR is
 * invalid: tests that upload random bytes as `raw` would fail that rarely.
 */
export function randomData(n: number): Buffer {
  const data = randomBytes(n);
  if (n >= 512 && data[510] === 0x55 && data[511] === 0xaa) data[511] = 0;
  return data;
}
