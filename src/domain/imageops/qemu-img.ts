import { runTool } from '../../lib/run-tool';

/** What `qemu-img info --output json` says about an image file. */
export interface QemuImageInfo {
  format: string;
  virtualSize: number;
  actualSize: number;
  /** Set when the image names another file (a backing file or an external data file). */
  externalFile: string | null;
  /** Every top-level scalar of the output, as strings. */
  fields: Record<string, string>;
}

/** The qemu-img commands the imageops jobs run, on files this node can open. */
export class QemuImg {
  constructor(private readonly program: string) {}

  /** `qemu-img info`; throws when it fails or prints no usable JSON. */
  async info(file: string, signal: AbortSignal): Promise<QemuImageInfo> {
    const run = await runTool(this.program, ['info', '-U', '--output', 'json', file], { signal });
    if (run.exitCode !== 0) throw new Error(`qemu-img info failed (${run.exitCode}): ${run.stderr.trim()}`);
    const json = parseObject(run.stdout);
    if (!json || typeof json.format !== 'string' || typeof json['virtual-size'] !== 'number') throw new Error('qemu-img info printed no image description');
    const dataFile = (json['format-specific'] as { data?: { 'data-file'?: unknown } } | undefined)?.data?.['data-file'];
    const backing = json['backing-filename'] ?? json['full-backing-filename'];
    return {
      format: json.format,
      virtualSize: json['virtual-size'],
      actualSize: typeof json['actual-size'] === 'number' ? json['actual-size'] : 0,
      externalFile: typeof backing === 'string' ? backing : typeof dataFile === 'string' ? dataFile : null,
      fields: scalarFields(json),
    };
  }

  /**
   * `qemu-img check -f qcow2` (the format is given: qemu-img never probes, so it opens nothing but
   * `file`). Exit 0 consistent, 2 corrupt, 3 leaked clusters, 1 the check failed; `fields` are the
   * top-level values it printed, as strings (empty when it printed no JSON).
   */
  async check(file: string, signal: AbortSignal): Promise<{ exitCode: number; fields: Record<string, string> }> {
    const run = await runTool(this.program, ['check', '-U', '-f', 'qcow2', '--output', 'json', file], { signal });
    const json = parseObject(run.stdout);
    return { exitCode: run.exitCode, fields: json ? scalarFields(json) : {} };
  }

  /**
   * `qemu-img convert -p -c -O qcow2` of `source` (its format given) into `target`, reporting
   * progress as a fraction in [0, 1]; `rateLimit` bytes/s when > 0. Throws when it fails.
   */
  async compress(source: string, format: string, target: string, options: { signal: AbortSignal; rateLimit: number; onProgress(fraction: number): void }): Promise<void> {
    const args = ['convert', '-p', '-c', '-f', format, '-O', 'qcow2'];
    if (options.rateLimit > 0) args.push('-r', String(options.rateLimit));
    args.push(source, target);
    let pending = '';
    const run = await runTool(this.program, args, {
      signal: options.signal,
      onStdout: (text) => {
        pending += text;
        // progress lines end in \r: "    (12.34/100%)\r"
        const lines = pending.split(/[\r\n]/);
        pending = lines.pop() ?? '';
        for (const line of lines) {
          const match = /\((\d+(?:\.\d+)?)\/100%\)/.exec(line);
          if (match) options.onProgress(Math.min(1, Math.max(0, Number(match[1]) / 100)));
        }
      },
    });
    if (run.exitCode !== 0) throw new Error(`qemu-img convert failed (${run.exitCode}): ${run.stderr.trim()}`);
  }
}

function parseObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Top-level strings, numbers and booleans as strings (imageops keeps only `key: value` lines). */
function scalarFields(json: Record<string, unknown>): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [key, value] of Object.entries(json)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') fields[key] = String(value);
  }
  return fields;
}
