import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { KnexCatalog } from '../catalog/knex-catalog';
import { isGlintError } from '../domain/errors';
import { exportNamespaces, loadNamespace, parseNamespaceDocument } from '../domain/metadefs/loader';
import type { ImportMode } from '../domain/metadefs/repository';
import { EXIT, parseOptions, readConfig, UsageError, type Command, type CommandContext } from './cli';

/** Glance's default metadef directory (Debian's glance-common). */
const DEFAULT_DIR = '/etc/glance/metadefs';

async function withCatalog<T>(context: CommandContext, work: (catalog: KnexCatalog) => Promise<T>): Promise<T> {
  const catalog = await KnexCatalog.open(readConfig(context.configFile).database);
  try {
    const pending = await catalog.pendingMigrations();
    if (pending.length > 0) throw new UsageError(`the catalog has ${pending.length} migration(s) pending; run glint-manage db sync first`, false);
    return await work(catalog);
  } finally {
    await catalog.close();
  }
}

/** The .json files of `source` (a directory, or one file), sorted by name. */
async function metadefFiles(source: string): Promise<string[]> {
  let info;
  try {
    info = await stat(source);
  } catch {
    throw new UsageError(`no such file or directory: ${source}`, false);
  }
  if (info.isFile()) return [source];
  const names = (await readdir(source)).filter((name) => name.endsWith('.json')).sort();
  if (names.length === 0) throw new UsageError(`no .json metadef files in ${source}`, false);
  return names.map((name) => path.join(source, name));
}

function importMode(values: { merge?: boolean; prefer_new?: boolean; overwrite?: boolean }): ImportMode {
  if (!values.merge && (values.prefer_new || values.overwrite)) throw new UsageError('--prefer_new and --overwrite need --merge');
  if (values.prefer_new && values.overwrite) throw new UsageError('--prefer_new and --overwrite cannot be combined');
  if (!values.merge) return 'skip';
  return values.overwrite ? 'overwrite' : values.prefer_new ? 'prefer_new' : 'merge';
}

export const metadefCommands: Command[] = [
  {
    name: 'db load_metadefs',
    summary: "load Glance's metadef JSON files (a directory, default /etc/glance/metadefs) into the catalog",
    usage:
      'db load_metadefs [PATH] [--merge [--prefer_new | --overwrite]]\n' +
      '  Without --merge a namespace already in the catalog is left as it is; --merge adds what it lacks,\n' +
      '  --prefer_new also rewrites what both have, --overwrite replaces its contents with the file\'s.\n' +
      '  One JSON line per file: {"file", "namespace", "result": created|updated|skipped|failed}.',
    async run(context) {
      const parsed = parseOptions(context.args, { merge: { type: 'boolean' }, prefer_new: { type: 'boolean' }, overwrite: { type: 'boolean' } }, { min: 0, max: 1 });
      const mode = importMode(parsed.values);
      const files = await metadefFiles(parsed.positionals[0] ?? DEFAULT_DIR);
      return withCatalog(context, async (catalog) => {
        let failed = 0;
        for (const file of files) {
          let namespace: string | null = null;
          try {
            const document = parseNamespaceDocument(JSON.parse(await readFile(file, 'utf8')));
            namespace = document.namespace.namespace;
            const result = await loadNamespace(catalog.metadefs, document, mode);
            context.out.write(`${JSON.stringify({ file, namespace, result })}\n`);
          } catch (err) {
            if (!(err instanceof SyntaxError) && !isGlintError(err)) throw err;
            failed++;
            context.out.write(`${JSON.stringify({ file, namespace, result: 'failed', error: err.message })}\n`);
          }
        }
        return failed > 0 ? EXIT.failed : EXIT.ok;
      });
    },
  },
  {
    name: 'db unload_metadefs',
    summary: 'delete every metadef namespace, resource type and association from the catalog',
    usage: 'db unload_metadefs',
    async run(context) {
      parseOptions(context.args, {}, { min: 0, max: 0 });
      return withCatalog(context, async (catalog) => {
        await catalog.metadefs.deleteAll();
        context.out.write(`${JSON.stringify({ unloaded: true })}\n`);
        return EXIT.ok;
      });
    },
  },
  {
    name: 'db export_metadefs',
    summary: 'write every metadef namespace as a Glance metadef JSON file into a directory',
    usage: 'db export_metadefs [PATH]  (default /etc/glance/metadefs; one NAMESPACE.json per namespace)',
    async run(context) {
      const parsed = parseOptions(context.args, {}, { min: 0, max: 1 });
      const dir = parsed.positionals[0] ?? DEFAULT_DIR;
      return withCatalog(context, async (catalog) => {
        await mkdir(dir, { recursive: true });
        for (const { namespace, json } of await exportNamespaces(catalog.metadefs)) {
          const file = path.join(dir, `${namespace.replace(/[/\\]/g, '_')}.json`);
          await writeFile(file, `${JSON.stringify(json, null, 4)}\n`);
          context.out.write(`${JSON.stringify({ file, namespace })}\n`);
        }
        return EXIT.ok;
      });
    },
  },
];
