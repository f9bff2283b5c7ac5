import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { renderConfigTable, TABLE_BEGIN, TABLE_END } from '../../src/config/docs';
import { SECTIONS, STORE_SECTIONS } from '../../src/config/schema';

describe('README.md configuration table', () => {
  const readme = readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');

  it('is the rendering of the config schema (run npm run docs:config after changing src/config/schema.ts)', () => {
    const begin = readme.indexOf(TABLE_BEGIN);
    const end = readme.indexOf(TABLE_END);
    assert.ok(begin >= 0 && end > begin, 'README.md has the generated block');
    assert.equal(readme.slice(begin, end + TABLE_END.length), renderConfigTable());
  });

  it('has one row per key of every section and store type', () => {
    const table = renderConfigTable();
    const keys = [...Object.values(SECTIONS), ...Object.values(STORE_SECTIONS)].reduce((n, specs) => n + specs.length, 0);
    assert.equal(table.split('\n').filter((line) => line.startsWith('| `[')).length, keys);
    for (const [section, specs] of Object.entries(SECTIONS)) for (const spec of specs) assert.ok(table.includes(`| \`[${section}]\` | \`${spec.key}\` |`), `${section}.${spec.key}`);
  });
});
