#!/usr/bin/env node
/**
 * glint-manage: operator commands on the same config file the server reads (`--config-file PATH`
 * or GLINT_CONFIG, then GLINT_* variables), in the spirit of glance-manage. Each command lives in
 * src/manage/; `glint-manage --help` lists them, `glint-manage COMMAND --help` explains one.
 *
 * Exit status: 0 done, 1 failed, 2 bad usage or configuration, 3 problems found (scrub, db check).
 */
import { ConfigError, configPathFromArgs } from './config/load';
import { GlintError } from './domain/errors';
import { ImageStoreError } from './library/image-store';
import { EXIT, UsageError, type Command } from './manage/cli';
import { dbCommands } from './manage/db';
import { imageCommands } from './manage/image';
import { imageStoreCommands } from './manage/image-store';
import { metadefCommands } from './manage/metadefs';
import { reconcileCommands } from './manage/reconcile';
import { storeCommands } from './manage/store';
import { StoreError } from './stores/blob-store';

const COMMANDS: Command[] = [...dbCommands, ...metadefCommands, ...imageCommands, ...storeCommands, ...reconcileCommands, ...imageStoreCommands];
const PREFIX = 'usage: glint-manage [--config-file PATH] ';

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `${PREFIX}COMMAND [ARGS] [--help]`,
    '',
    'Commands (each reads the server\'s config file; GLINT_CONFIG and GLINT_* variables apply too):',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Exit status: 0 done, 1 failed, 2 bad usage or configuration, 3 problems found (store scrub, db check).',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  let configFile: string | null;
  try {
    configFile = configPathFromArgs(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) return usageError(err.message, overview());
    throw err;
  }
  const words = withoutConfigOption(argv);
  const help = words.includes('--help') || words.includes('-h');
  const command = COMMANDS.find((c) => c.name.split(' ').every((word, i) => words[i] === word));
  if (!command) {
    if (help || words.length === 0) {
      (words.length === 0 && !help ? process.stderr : process.stdout).write(`${overview()}\n`);
      return help ? EXIT.ok : EXIT.usage;
    }
    return usageError(`unknown command: ${words.slice(0, 2).join(' ')}`, overview());
  }
  const usage = `${PREFIX}${command.usage}`;
  if (help) {
    process.stdout.write(`${usage}\n`);
    return EXIT.ok;
  }
  const args = words.slice(command.name.split(' ').length);
  try {
    return await command.run({ args, configFile, out: process.stdout, err: process.stderr });
  } catch (err) {
    if (err instanceof UsageError) return usageError(err.message, err.showUsage ? usage : null);
    throw err;
  }
}

function withoutConfigOption(argv: string[]): string[] {
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--config-file') i++;
    else if (!argv[i].startsWith('--config-file=')) words.push(argv[i]);
  }
  return words;
}

function usageError(problem: string, usage: string | null): number {
  process.stderr.write(`glint-manage: ${problem}\n${usage ? `${usage}\n` : ''}`);
  return EXIT.usage;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    // refusals the domain explains (unknown image, bad format, quota…) and store failures: the message; anything else: the stack
    const message =
      err instanceof ImageStoreError
        ? `${err.code}: ${err.message}`
        : err instanceof GlintError
          ? `${err.code}: ${err.message}${err.detail ? ` ${err.detail}` : ''}`
          : err instanceof StoreError
            ? `store ${err.storeId}: ${err.kind}: ${err.message}`
            : String((err as Error)?.stack ?? err);
    process.stderr.write(`glint-manage: ${message}\n`);
    process.exit(EXIT.failed);
  },
);
