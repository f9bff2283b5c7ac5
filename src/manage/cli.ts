import { parseArgs, type ParseArgsConfig } from 'node:util';
import { buildApp, type GlintApp } from '../app';
import { ConfigError, loadConfig } from '../config/load';
import type { GlintConfig } from '../config/types';
import { createLogger } from '../lib/logger';

/** Exit statuses of every command. */
export const EXIT = {
  ok: 0,
  /** The command could not do its work (database or store unreachable, image refused…). */
  failed: 1,
  /** Bad usage or a bad configuration file. */
  usage: 2,
  /** The command ran and found problems (scrub: missing or corrupt objects; db check: pending migrations). */
  problems: 3,
} as const;

/** Thrown for bad usage or configuration: printed as is, exit 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly showUsage = true,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** What a command gets: its arguments, the config file and where to write. */
export interface CommandContext {
  args: string[];
  configFile: string | null;
  /** Results (one line per result; JSON where a script may read it). */
  out: NodeJS.WritableStream;
  /** Progress bars and messages. */
  err: NodeJS.WritableStream;
}

export interface Command {
  /** The words naming it: `db sync`, `image import`… */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The command's own --help text (after `usage: glint-manage [--config-file PATH] `). */
  usage: string;
  run(context: CommandContext): Promise<number>;
}

/** node:util parseArgs with usage errors instead of TypeErrors. */
export type ParsedOptions<T extends NonNullable<ParseArgsConfig['options']>> = ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>>;

export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, positionals: { min: number; max: number }): ParsedOptions<T> {
  let parsed: ParsedOptions<T>;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (parsed.positionals.length < positionals.min) throw new UsageError('missing argument');
  if (parsed.positionals.length > positionals.max) throw new UsageError(`unexpected argument: ${parsed.positionals[positionals.max]}`);
  return parsed;
}

/** The server's configuration, from the same file (and GLINT_* variables); a bad one is exit 2. */
export function readConfig(configFile: string | null): GlintConfig {
  try {
    return loadConfig({ file: configFile, warn: (message) => process.stderr.write(`glint-manage: warning: ${message}\n`) });
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(`configuration error: ${err.message}`, false);
    throw err;
  }
}

/**
 * The whole glint on the server's configuration, as the server builds it, without its HTTP
 * listener, job runner or reconciler: commands go through the same domain services. The catalog
 * must be migrated already (`db sync`), as a server node would leave it.
 */
export async function openApp(config: GlintConfig): Promise<GlintApp> {
  return buildApp(config, {
    logger: createLogger({ level: config.server.logLevel === 'debug' ? 'debug' : 'warn', format: config.server.logFormat }),
    accessLog: null,
    migrate: false,
    startWorkers: false,
  });
}

/** `123 MiB` */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
