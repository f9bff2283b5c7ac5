import { SECTIONS, STORE_SECTIONS, envName, type OptionSpec, type OptionType } from './schema';

export const TABLE_BEGIN = '<!-- config-table:begin -->';
export const TABLE_END = '<!-- config-table:end -->';

function typeText(type: OptionType): string {
  switch (type.kind) {
    case 'integer':
      return type.min !== undefined && type.max !== undefined ? `integer ${type.min}–${type.max}` : type.min !== undefined ? `integer ≥ ${type.min}` : 'integer';
    case 'enum':
      return type.values.join(' \\| ');
    case 'size':
      return 'size (B/KB/MB/GB/TB)';
    default:
      return type.kind;
  }
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/**
 * The README's configuration table: every key of the schema with its type, default,
 * environment variable and meaning. Store keys are listed once per driver type, under the
 * section a store of that type gets (`[<store id>]`, or `[glance_store]` in single-store mode).
 */
export function renderConfigTable(): string {
  const rows: string[] = ['| section | key | type | default | environment | meaning |', '|---|---|---|---|---|---|'];
  const add = (section: string, env: string, spec: OptionSpec) => {
    const def = spec.default === '' ? '' : `\`${cell(spec.default)}\``;
    rows.push(`| \`[${section}]\` | \`${spec.key}\` | ${typeText(spec.type)} | ${def} | \`${env}\` | ${cell(spec.help)} |`);
  };
  for (const [section, specs] of Object.entries(SECTIONS)) for (const spec of specs) add(section, envName(section, spec.key), spec);
  for (const [type, specs] of Object.entries(STORE_SECTIONS)) {
    for (const spec of specs) add(`<${type} store id>`, `GLINT_<ID>_${spec.key.toUpperCase()}`, spec);
  }
  return [TABLE_BEGIN, '', ...rows, '', TABLE_END].join('\n');
}

/** `readme` with its generated block replaced by the current rendering. */
export function withConfigTable(readme: string): string {
  const begin = readme.indexOf(TABLE_BEGIN);
  const end = readme.indexOf(TABLE_END);
  if (begin < 0 || end < begin) throw new Error('README.md has no config-table block');
  return readme.slice(0, begin) + renderConfigTable() + readme.slice(end + TABLE_END.length);
}
