import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

/** Builds iSulad image-store directories the way iSulad writes them, for import tests. */

export function sha256(bytes: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

/** iSulad's file name for a big-data key: itself when only [.0-9a-z], else `=` + Base64. */
export function isuladFileName(key: string): string {
  return /^[.0-9a-z]+$/.test(key) ? key : '=' + Buffer.from(key).toString('base64');
}

export interface LayoutImage {
  id: string;
  config: string;
  manifest: string;
  dir: string;
}

export interface LayoutImageOptions {
  /** Distinguishes configs (and so ids) of otherwise identical images. */
  seed: string;
  names?: string[];
  /** The record's `digest` field: default the manifest's digest; null leaves it out. */
  digest?: string | null;
  extra?: Record<string, Buffer | string>;
  /** Leaves big-data-sizes / big-data-digests out of images.json (iSulad recomputes them). */
  withoutSizes?: boolean;
  /** Writes no config file (or an unparsable one). */
  config?: 'missing' | 'broken';
  created?: string;
  loaded?: string;
}

export function writeLayoutImage(root: string, options: LayoutImageOptions): LayoutImage {
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', created: '2017-07-10T12:46:57.770791248Z', config: { Labels: { seed: options.seed } } });
  const id = sha256(config).slice('sha256:'.length);
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', config: { digest: `sha256:${id}` }, seed: options.seed });
  const dir = path.join(root, id);
  mkdirSync(dir, { recursive: true });
  const bigData: Record<string, Buffer | string> = { [`sha256:${id}`]: config, manifest, ...options.extra };
  for (const [key, value] of Object.entries(bigData)) {
    if (key === `sha256:${id}` && options.config === 'missing') continue;
    writeFileSync(path.join(dir, isuladFileName(key)), key === `sha256:${id}` && options.config === 'broken' ? '{not json' : value);
  }
  const record: Record<string, unknown> = {
    id,
    names: options.names ?? [],
    layer: 'edd34c08'.padEnd(64, '0'),
    metadata: '{}',
    'big-data-names': Object.keys(bigData),
    created: options.created ?? '2017-07-10T12:46:57.770791248Z',
    loaded: options.loaded ?? '2020-03-16T03:46:12.172621513Z',
  };
  if (options.digest !== null) record.digest = options.digest ?? sha256(manifest);
  if (!options.withoutSizes) {
    record['big-data-sizes'] = Object.fromEntries(Object.entries(bigData).map(([key, value]) => [key, Buffer.byteLength(value)]));
    record['big-data-digests'] = Object.fromEntries(Object.entries(bigData).map(([key, value]) => [key, sha256(value)]));
  }
  writeFileSync(path.join(dir, 'images.json'), JSON.stringify(record));
  return { id, config, manifest, dir };
}
