import { SECTIONS, STORE_SECTIONS, envName, type OptionSpec } from './schema';

/**
 * Renders the commented example configuration (etc/glint.conf) from the schema, so the example
 * lists every key with its default and environment name. A test keeps etc/glint.conf equal to it.
 */
export function renderSampleConfig(): string {
  const out: string[] = [
    '# glint configuration — the layout of Glance\'s glance-api.conf.',
    '# Every key is shown commented out with its default. Any key can be overridden by the',
    '# environment variable named beside it (GLINT_<SECTION>_<KEY>).',
    '# Start with: glint --config-file /etc/glint/glint.conf   (or GLINT_CONFIG=/etc/glint/glint.conf)',
    '',
  ];
  const section = (name: string, specs: readonly OptionSpec[], envSection = name, intro: string[] = []) => {
    out.push(`[${name}]`, ...intro.map((l) => `# ${l}`));
    for (const spec of specs) {
      out.push(`# ${spec.help}`, `# env: ${envName(envSection, spec.key)}`, `#${spec.key} = ${spec.default}`, '');
    }
  };
  for (const [name, specs] of Object.entries(SECTIONS)) {
    if (name === 'glance_store') {
      section(name, [...specs, ...STORE_SECTIONS.file, ...STORE_SECTIONS.s3.filter((s) => s.key !== 'description')], name, [
        'Single-store mode (enabled_backends unset): the store is configured here with the keys',
        'of its type (filesystem_store_* for file, s3_store_* for s3).',
      ]);
      continue;
    }
    section(name, specs);
  }
  out.push(
    '# Multi-store: list stores in [DEFAULT] enabled_backends = fast:file, cold:s3, name the default in',
    '# [glance_store] default_backend = fast, and give each store a section named after its id.',
    '',
  );
  section('fast', STORE_SECTIONS.file, 'fast', ['Example file store section (store id "fast").']);
  section('cold', STORE_SECTIONS.s3, 'cold', ['Example S3 store section (store id "cold").']);
  return `${out.join('\n').trimEnd()}\n`;
}
