import pino from 'pino';

/**
 * The structured logger every module gets: one JSON object per event (pino), on stderr by
 * default (stdout carries the request log). `fields` are merged into the event; keys that name
 * secrets are replaced by `[REDACTED]` wherever they appear one or two levels down.
 */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  debug?(message: string, fields?: Record<string, unknown>): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'json' | 'pretty';

export interface LoggerOptions {
  /** Writes nothing (tests). */
  silent?: boolean;
  /** Where events go: a stream, or a file descriptor (default 2, stderr). */
  stream?: NodeJS.WritableStream | number;
  /** Least severe level written (default info). */
  level?: LogLevel;
  /** json: one JSON object per line; pretty: human-readable lines (pino-pretty), for a terminal. */
  format?: LogFormat;
  /**
   * For a file descriptor: write asynchronously, coalescing the lines of busy moments into few
   * writes (the request log); what is pending is flushed when the process exits.
   */
  buffered?: boolean;
}

/** Field names never written: credentials from the configuration and tokens from requests. */
const SECRET_KEYS = [
  'password',
  'secret',
  'secretKey',
  'secret_key',
  'accessKey',
  'access_key',
  's3_store_secret_key',
  's3_store_access_key',
  'token',
  'authToken',
  'x-auth-token',
  'x-service-token',
  'x-storage-token',
  'x-subject-token',
  'authorization',
  'cookie',
  'connection',
];
const REDACT_PATHS = SECRET_KEYS.flatMap((key) => {
  const k = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`;
  const child = k.startsWith('[') ? k : `.${k}`;
  return [k, `*${child}`, `*.*${child}`];
});

/** A pino instance with glint's event shape: `level` as a word, ISO `time`, `message`. */
export function createPino(options: LoggerOptions = {}): pino.Logger {
  const settings: pino.LoggerOptions = {
    level: options.silent ? 'silent' : (options.level ?? 'info'),
    messageKey: 'message',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
  };
  if (options.silent) return pino(settings);
  const target = options.stream ?? 2;
  if (options.format === 'pretty') {
    // loaded only when asked for: a production json log never needs it
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pretty = require('pino-pretty') as typeof import('pino-pretty');
    const destination = typeof target === 'number' ? pino.destination({ dest: target, sync: true }) : target;
    return pino(settings, pretty({ destination, sync: true, messageKey: 'message', translateTime: 'SYS:standard', ignore: 'pid' }));
  }
  return pino(settings, typeof target === 'number' ? pino.destination({ dest: target, sync: !options.buffered }) : target);
}

/** The `Logger` interface over pino. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return fromPino(createPino(options));
}

export function fromPino(log: pino.Logger): Logger {
  return {
    info: (message, fields) => log.info(fields ?? {}, message),
    warn: (message, fields) => log.warn(fields ?? {}, message),
    error: (message, fields) => log.error(fields ?? {}, message),
    debug: (message, fields) => log.debug(fields ?? {}, message),
  };
}
