import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../lib/package-root';

/** The folder of the OpenAPI documents, one per surface (and server.yaml for the server's own routes). */
export function apiSpecDir(): string {
  return path.join(packageRoot(), 'api-spec');
}

/**
 * Every `*.yaml` of api-spec/, by file name, read once at start-up: `GET /api-spec/<file>` serves
 * them. A missing folder serves none (a broken install shows as 404s, not a crash).
 */
export function loadApiSpecs(dir = apiSpecDir()): Map<string, string> {
  const specs = new Map<string, string>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return specs;
  }
  for (const name of names.sort()) if (/^[a-z0-9][a-z0-9-]*\.yaml$/.test(name)) specs.set(name, readFileSync(path.join(dir, name), 'utf8'));
  return specs;
}
