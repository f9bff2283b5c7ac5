import { open, stat } from 'node:fs/promises';
import { runTool, type ToolRun } from '../../../lib/run-tool';
import { GlintError } from '../../errors';
import { DEFAULT_DISK_FORMAT_POLICY, detectFormat, type DiskFormatPolicy, INSPECTION_HEAD_BYTES, judgeHead } from '../../disk-formats';
import type { ImportPlugin, ImportPluginContext, ImportPluginResult } from './plugin';

export interface ImageConversionOptions {
  /** `[image_conversion] output_format`. */
  outputFormat: 'qcow2' | 'raw' | 'vmdk';
  /** The qemu-img program (default: `qemu-img` on PATH). */
  qemuImg?: string;
  /** `[image_format]` inspection rules. */
  diskFormats?: DiskFormatPolicy;
}

/**
 * Glance's `image_conversion`: converts the data to `output_format` with `qemu-img convert`
 * before it is stored, and sets disk_format (and container_format `bare`) and virtual_size to
 * match. Like Glance it first makes sure the data is what the image claims (format inspection and
 * `qemu-img info`: same format, no backing file, no external data file), leaves an ISO and data
 * already in the output format as they are, and checks that the output is of the format asked
 * for. The original is not kept: the converted data is what gets stored (the staged original is
 * deleted when the import ends). Anything wrong fails the import.
 */
export class ImageConversion implements ImportPlugin {
  readonly name = 'image_conversion';

  constructor(private readonly options: ImageConversionOptions) {}

  async run(context: ImportPluginContext): Promise<ImportPluginResult> {
    const { image, signal } = context;
    const target = this.options.outputFormat;
    const source = image.diskFormat;
    if (!source) refuse('The image has no disk_format to convert from.');
    const sourcePath = await context.dataFile();
    const detected = await this.inspect(sourcePath, source);
    if (detected === 'iso') {
      if (source === 'iso') return {};
      refuse('Image has disallowed configuration');
    }
    if (detected !== source) refuse(`Image format mismatch: claimed ${source}, found ${detected}`);

    const info = await this.info(sourcePath, source, signal);
    if (info.format !== source) refuse(`Image metadata disagrees about format: qemu-img reports ${String(info.format)}`);
    if ('backing-filename' in info) refuse('QCOW images with backing files are not allowed');
    if (info['format-specific']?.data?.['data-file'] !== undefined) refuse('QCOW images with data-file set are not allowed');
    const virtualSize = typeof info['virtual-size'] === 'number' ? info['virtual-size'] : null;
    if (source === target) return { attributes: { virtualSize } };

    const outputPath = context.tempPath(`converted.${target}`);
    await this.qemuImg(['convert', '-f', source, '-O', target, sourcePath, outputPath], signal);
    const produced = await this.inspect(outputPath, target);
    if (produced !== target) refuse(`Converted image in unexpected format ${produced}`);
    const { size } = await stat(outputPath);
    return { attributes: { diskFormat: target, containerFormat: 'bare', virtualSize, size }, replacementFile: outputPath };
  }

  /** The format the file's head shows (gpt counts as raw), after the safety checks of `declared`. */
  private async inspect(path: string, declared: string): Promise<string | null> {
    const handle = await open(path, 'r');
    let head: Buffer;
    try {
      const buffer = Buffer.alloc(INSPECTION_HEAD_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      head = buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
    const policy = this.options.diskFormats ?? DEFAULT_DISK_FORMAT_POLICY;
    // the safety checks of the bytes' own format, whatever was declared
    judgeHead(declared, head, { ...policy, requireFormatMatch: false });
    const { format } = detectFormat(head);
    return format === 'gpt' ? 'raw' : format;
  }

  private async info(path: string, format: string, signal: AbortSignal): Promise<QemuImgInfo> {
    const stdout = await this.qemuImg(['info', '-f', format, '--output=json', path], signal);
    try {
      return JSON.parse(stdout) as QemuImgInfo;
    } catch {
      refuse('qemu-img info did not answer JSON');
    }
  }

  /** qemu-img through the runner the imageops jobs use: killed with its process group on abort, and with glint. */
  private async qemuImg(args: string[], signal: AbortSignal): Promise<string> {
    let run: ToolRun;
    try {
      run = await runTool(this.options.qemuImg ?? 'qemu-img', args, { signal });
    } catch (err) {
      if (signal.aborted) throw err;
      refuse(`qemu-img ${args[0]} failed: ${(err as Error).message}`);
    }
    const stderr = run.stderr.trim();
    if (run.exitCode !== 0) refuse(`qemu-img ${args[0]} failed: ${stderr || `exit status ${run.exitCode}`}`);
    if (stderr) refuse(stderr);
    return run.stdout;
  }
}

interface QemuImgInfo {
  format?: string;
  'virtual-size'?: number;
  'backing-filename'?: string;
  'format-specific'?: { data?: Record<string, unknown> };
}

function refuse(message: string): never {
  throw new GlintError('IMAGE_DATA_INVALID', `Image conversion failed: ${message}`);
}
