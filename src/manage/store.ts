import { DataScrubber } from '../domain/scrub';
import { EXIT, openApp, parseOptions, readConfig, UsageError, type Command } from './cli';
import { byteProgress } from './progress';

export const storeCommands: Command[] = [
  {
    name: 'store scrub',
    summary: "re-hash every active image's data against its checksum and os_hash_value (exit 3 on findings)",
    usage: [
      'store scrub [--store ID]',
      '',
      'Reads every copy of every active image (or only those in store ID) and compares size, md5',
      "(checksum) and the os_hash_algo digest with the catalog. Prints one JSON line per finding",
      '(missing, corrupt, unreadable, unknown_store), then a summary line. Changes nothing.',
    ].join('\n'),
    async run(context) {
      const { values } = parseOptions(context.args, { store: { type: 'string' } }, { min: 0, max: 0 });
      const app = await openApp(readConfig(context.configFile));
      try {
        const storeId = values.store ?? null;
        if (storeId !== null && !app.stores.get(storeId)) {
          throw new UsageError(`--store ${storeId}: no such store (configured: ${app.stores.all().map((s) => s.id).join(', ')})`);
        }
        const scrubber = new DataScrubber({ images: app.catalog.images, stores: app.stores });
        const plan = await scrubber.plan(storeId);
        const progress = byteProgress('scrub', plan.totalBytes, context.err);
        let report;
        try {
          report = await scrubber.scrub(plan, (bytes) => progress.add(bytes));
        } finally {
          progress.stop();
        }
        for (const finding of report.findings) context.out.write(`${JSON.stringify(finding)}\n`);
        const count = (problem: string) => report.findings.filter((f) => f.problem === problem).length;
        context.out.write(
          `${JSON.stringify({
            images: report.images,
            copies: report.copies,
            bytes: report.bytes,
            missing: count('missing'),
            corrupt: count('corrupt'),
            unreadable: count('unreadable'),
            unknown_store: count('unknown_store'),
          })}\n`,
        );
        return report.findings.length > 0 ? EXIT.problems : EXIT.ok;
      } finally {
        await app.close();
      }
    },
  },
];
