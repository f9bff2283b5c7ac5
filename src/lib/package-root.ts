import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

let root: string | null = null;

/**
 * The folder of glint's package.json: the repository when running from the sources (tsx), the
 * installed package when running from dist/ (dist/src/… sits one level deeper than src/…).
 * Files shipped beside the code (api-spec/, migrations/) are found from here.
 */
export function packageRoot(): string {
  if (root) return root;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'glint') return (root = dir);
      } catch {
        // not ours; keep looking
      }
    }
    if (path.dirname(dir) === dir) throw new Error(`glint's package.json not found above ${__dirname}`);
  }
}
