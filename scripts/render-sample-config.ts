import { writeFileSync } from 'node:fs';
import { renderSampleConfig } from '../src/config/sample';

// Regenerates etc/glint.conf from the configuration schema.
writeFileSync(new URL('../etc/glint.conf', `file://${__filename}`), renderSampleConfig());
