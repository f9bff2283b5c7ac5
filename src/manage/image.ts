import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { GlintApp } from '../app';
import type { RequestContext } from '../domain/context';
import { EXIT, formatBytes, openApp, parseOptions, readConfig, UsageError, type Command, type CommandContext } from './cli';
import { byteProgress } from './progress';

/** Who the commands act as: an admin of `project` (null: images without an owner). */
function operator(project: string | null): RequestContext {
  return { requestId: `req-${randomUUID()}`, userId: 'glint-manage', projectId: project, roles: ['admin'], isAdmin: true, readOnly: false };
}

async function withApp<T>(context: CommandContext, work: (app: GlintApp) => Promise<T>): Promise<T> {
  const app = await openApp(readConfig(context.configFile));
  try {
    return await work(app);
  } finally {
    await app.close();
  }
}

const rate = (bytes: number, ms: number) => `${formatBytes(ms > 0 ? (bytes * 1000) / ms : bytes)}/s`;

export const imageCommands: Command[] = [
  {
    name: 'image import',
    summary: 'create an image and upload FILE into it through the ingest pipeline (checks, digests, quota)',
    usage: [
      'image import FILE --name NAME --disk-format FMT [--container-format FMT] [--store ID]',
      '                  [--owner PROJECT] [--visibility private|shared|community|public] [--property KEY=VALUE]...',
      '',
      'Prints one JSON line: the new image (id, status, size, checksum, os_hash_value, stores).',
      'A bar with throughput and ETA goes to stderr when it is a terminal.',
    ].join('\n'),
    async run(context) {
      const { values, positionals } = parseOptions(
        context.args,
        {
          name: { type: 'string' },
          'disk-format': { type: 'string' },
          'container-format': { type: 'string', default: 'bare' },
          store: { type: 'string' },
          owner: { type: 'string' },
          visibility: { type: 'string' },
          property: { type: 'string', multiple: true },
        },
        { min: 1, max: 1 },
      );
      const file = positionals[0];
      if (!values.name) throw new UsageError('--name is required');
      if (!values['disk-format']) throw new UsageError('--disk-format is required');
      const properties: Record<string, string> = {};
      for (const pair of values.property ?? []) {
        const at = pair.indexOf('=');
        if (at <= 0) throw new UsageError(`--property ${pair}: expected KEY=VALUE`);
        properties[pair.slice(0, at)] = pair.slice(at + 1);
      }
      const size = (await fs.stat(file)).size;
      return withApp(context, async (app) => {
        const who = operator(values.owner ?? null);
        const visibility = values.visibility as 'private' | 'shared' | 'community' | 'public' | undefined;
        const image = await app.services.images.createImage(who, {
          name: values.name,
          diskFormat: values['disk-format'],
          containerFormat: values['container-format'],
          owner: values.owner ?? null,
          visibility,
          properties,
        });
        const progress = byteProgress('import', size, context.err);
        const started = Date.now();
        const body = progress.counter();
        // a read error reaches the upload through `body`, which pipeline destroys with it
        pipeline(createReadStream(file), body).catch(() => undefined);
        let active;
        try {
          active = await app.services.data.upload(who, image.id, { body, contentLength: size, storeId: values.store });
        } catch (err) {
          // nothing half-made stays behind: the image was created for this upload only
          await app.services.images.deleteImage(who, image.id).catch(() => undefined);
          throw err;
        } finally {
          progress.stop();
        }
        const ms = Date.now() - started;
        context.out.write(
          `${JSON.stringify({
            id: active.id,
            name: active.name,
            status: active.status,
            size: active.size,
            checksum: active.checksum,
            os_hash_algo: active.osHashAlgo,
            os_hash_value: active.osHashValue,
            stores: active.locations.map((l) => l.storeId).join(','),
            seconds: ms / 1000,
            throughput: rate(active.size ?? 0, ms),
          })}\n`,
        );
        return EXIT.ok;
      });
    },
  },
  {
    name: 'image export',
    summary: "write an image's data to FILE (read as a download is: first readable location)",
    usage: 'image export ID FILE\n\nPrints one JSON line: id, size, checksum and FILE. FILE appears only once complete.',
    async run(context) {
      const { positionals } = parseOptions(context.args, {}, { min: 2, max: 2 });
      const [id, file] = positionals;
      return withApp(context, async (app) => {
        const who = operator(null);
        const read = await app.services.data.read(who, id, () => null);
        if (read.kind === 'empty') {
          context.err.write(`glint-manage: image ${id} has no data\n`);
          return EXIT.failed;
        }
        const progress = byteProgress('export', read.totalSize, context.err);
        const started = Date.now();
        const partial = `${file}.partial-${process.pid}`;
        try {
          const md5 = createHash('md5');
          const source = Buffer.isBuffer(read.body) ? Readable.from([read.body]) : read.body;
          const hash = new Transform({ transform: (chunk: Buffer, _e, callback) => callback(null, md5.update(chunk) && chunk) });
          await pipeline(source, progress.counter(), hash, createWriteStream(partial));
          const written = md5.digest('hex');
          if (read.checksum && written !== read.checksum) throw new Error(`image ${id}: the data read has md5 ${written}, the catalog says ${read.checksum}`);
          await fs.rename(partial, file);
        } catch (err) {
          await fs.rm(partial, { force: true });
          throw err;
        } finally {
          progress.stop();
        }
        const ms = Date.now() - started;
        context.out.write(`${JSON.stringify({ id, size: read.totalSize, checksum: read.checksum, file, seconds: ms / 1000, throughput: rate(read.totalSize, ms) })}\n`);
        return EXIT.ok;
      });
    },
  },
];
