import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { useMigratedCatalog } from '../support/mysql';
import { imageStoreContract } from './image-store.suite';

/** Children before parents, so deleting never trips a foreign key. */
const TABLES_TO_EMPTY = ['image_big_data', 'image_names', 'image_members', 'image_locations', 'image_tags', 'image_attributes', 'image_properties', 'images'];

describe('image-store library on MySQL/MariaDB and a filesystem store', () => {
  // One database for the run, emptied before each test; a fresh store directory per test.
  const mysql = useMigratedCatalog();
  const dirs: string[] = [];

  after(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  imageStoreContract(
    async () => {
      await mysql.empty(TABLES_TO_EMPTY);
      const dir = mkdtempSync(path.join(tmpdir(), 'glint-image-store-'));
      dirs.push(dir);
      const configFile = path.join(dir, 'glint.conf');
      const storeDir = path.join(dir, 'images');
      writeFileSync(configFile, `[database]\nconnection = ${mysql.database.config.url}\n\n[glance_store]\nfilesystem_store_datadir = ${storeDir}\n`);
      return { configFile, storeDir, tmp: dir };
    },
    { concurrentInProcess: true },
  );
});
