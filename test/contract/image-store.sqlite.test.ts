import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { imageStoreContract } from './image-store.suite';

describe('image-store library on SQLite and a filesystem store', () => {
  const dirs: string[] = [];

  after(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  imageStoreContract(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'glint-image-store-'));
    dirs.push(dir);
    const configFile = path.join(dir, 'glint.conf');
    const storeDir = path.join(dir, 'images');
    writeFileSync(configFile, `[database]\nconnection = sqlite:///${path.join(dir, 'glint.db')}\n\n[glance_store]\nfilesystem_store_datadir = ${storeDir}\n`);
    return { configFile, storeDir, tmp: dir };
  }, { concurrentInProcess: false });
});
