import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { withConfigTable } from '../src/config/docs';

// Rewrites the configuration table of README.md from the configuration schema (npm run docs:config).
const readme = path.resolve(__dirname, '../README.md');
writeFileSync(readme, withConfigTable(readFileSync(readme, 'utf8')));
