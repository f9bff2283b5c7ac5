import { envName, type OptionSpec } from './schema';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** The INI file as read: section → key → raw value. */
export type RawSections = Record<string, Record<string, string>>;

/** Reads typed values and remembers which keys of the file were consumed. */
export class SectionReader {
  private readonly consumed = new Map<string, Set<string>>();

  constructor(
    private readonly raw: RawSections,
    private readonly env: NodeJS.ProcessEnv,
    readonly where: string,
  ) {}

  value(section: string, specs: readonly OptionSpec[], key: string): string | number | boolean | string[] {
    const spec = specs.find((s) => s.key === key);
    if (!spec) throw new Error(`undeclared option [${section}] ${key}`);
    for (const s of specs) this.markConsumed(section, s.key);
    const fromEnv = this.env[envName(section, key)];
    const fromFile = this.raw[section]?.[key];
    const rawValue = fromEnv ?? fromFile ?? spec.default;
    const origin = fromEnv !== undefined ? `environment ${envName(section, key)}` : `${this.where}: [${section}] ${key}`;
    return parseValue(spec, rawValue.trim(), origin);
  }

  list(section: string, specs: readonly OptionSpec[], key: string): string[] {
    return this.value(section, specs, key) as string[];
  }

  *unknownKeys(): Iterable<string> {
    for (const [section, keys] of Object.entries(this.raw)) {
      const known = this.consumed.get(section);
      for (const key of Object.keys(keys)) {
        if (!known?.has(key)) yield `${this.where}: [${section}] ${key} is not a glint option; ignored`;
      }
    }
  }

  private markConsumed(section: string, key: string): void {
    let keys = this.consumed.get(section);
    if (!keys) this.consumed.set(section, (keys = new Set()));
    keys.add(key);
  }
}

const SIZE_UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

export function parseValue(spec: OptionSpec, value: string, origin: string): string | number | boolean | string[] {
  const bad = (expected: string) => new ConfigError(`${origin}: "${value}" is not ${expected}`);
  switch (spec.type.kind) {
    case 'string':
      return value;
    case 'integer': {
      if (!/^-?\d+$/.test(value)) throw bad('an integer');
      const n = Number(value);
      if (!Number.isSafeInteger(n)) throw bad('an integer in range');
      if (spec.type.min !== undefined && n < spec.type.min) throw bad(`an integer ≥ ${spec.type.min}`);
      if (spec.type.max !== undefined && n > spec.type.max) throw bad(`an integer ≤ ${spec.type.max}`);
      return n;
    }
    case 'boolean': {
      const v = value.toLowerCase();
      if (['true', 'yes', 'on', '1'].includes(v)) return true;
      if (['false', 'no', 'off', '0'].includes(v)) return false;
      throw bad('a boolean (true/false)');
    }
    case 'size': {
      const match = /^(\d+)\s*(B|KB|MB|GB|TB)?$/i.exec(value);
      if (!match) throw bad('a size such as 0, 500MB or 10GB');
      const n = Number(match[1]) * SIZE_UNITS[(match[2] ?? 'B').toUpperCase()];
      if (!Number.isSafeInteger(n)) throw bad('a size in range');
      return n;
    }
    case 'list':
      // oslo.config's ListOpt also takes the bracketed form glance-api.conf samples use: [a, b]
      return (/^\[.*\]$/s.test(value.trim()) ? value.trim().slice(1, -1) : value)
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
    case 'enum':
      if (!spec.type.values.includes(value)) throw bad(`one of ${spec.type.values.map((v) => v || '(empty)').join(', ')}`);
      return value;
  }
}
