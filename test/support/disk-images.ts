import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/**
 * Real disk images made by qemu-img (qemu-utils), plus the hand-made ones qemu-img cannot make
 * (an ISO 9660 volume, a descriptor-only VMDK naming /etc/passwd). Each is 10 MiB of virtual
 * disk and at most a few MiB of bytes.
 */
export interface DiskImages {
  /** Safe images, by the disk_format they are. */
  good: Record<'qcow2' | 'vmdk' | 'vmdkStream' | 'vhd' | 'vhdx' | 'vdi' | 'iso' | 'gpt' | 'raw', Buffer>;
  qcow2BackingFile: Buffer;
  qcow2DataFile: Buffer;
  /** A monolithicFlat descriptor whose extent is /etc/passwd. */
  vmdkFlatPasswd: Buffer;
  /** The descriptor qemu-img writes for monolithicFlat (extent: a file beside it). */
  vmdkFlat: Buffer;
}

export const VIRTUAL = 10 * 1024 * 1024;

export function makeDiskImages(): DiskImages {
  const dir = mkdtempSync(path.join(tmpdir(), 'glint-disks-'));
  try {
    const qemu = (...args: string[]) => execFileSync('qemu-img', ['create', '-q', ...args], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    const read = (name: string) => readFileSync(path.join(dir, name));
    qemu('-f', 'qcow2', 'good.qcow2', '10M');
    qemu('-f', 'qcow2', '-F', 'raw', '-b', '/etc/passwd', '-u', 'backing.qcow2', '10M');
    qemu('-f', 'qcow2', '-o', `data_file=${path.join(dir, 'external.raw')}`, 'datafile.qcow2', '10M');
    qemu('-f', 'vmdk', 'good.vmdk', '10M');
    qemu('-f', 'vmdk', '-o', 'subformat=streamOptimized', 'stream.vmdk', '10M');
    qemu('-f', 'vmdk', '-o', 'subformat=monolithicFlat', 'flat.vmdk', '10M');
    qemu('-f', 'vpc', 'good.vhd', '10M');
    qemu('-f', 'vhdx', 'good.vhdx', '10M');
    qemu('-f', 'vdi', 'good.vdi', '10M');
    qemu('-f', 'raw', 'gpt.img', '1M');
    execFileSync('sgdisk', ['-n', '1:34:0', 'gpt.img'], { cwd: dir, stdio: 'ignore' });
    const flat = read('flat.vmdk');
    return {
      good: {
        qcow2: read('good.qcow2'),
        vmdk: read('good.vmdk'),
        vmdkStream: read('stream.vmdk'),
        vhd: read('good.vhd'),
        vhdx: read('good.vhdx'),
        vdi: read('good.vdi'),
        iso: isoImage(20),
        gpt: read('gpt.img'),
        raw: Buffer.alloc(100_000, 0x61),
      },
      qcow2BackingFile: read('backing.qcow2'),
      qcow2DataFile: read('datafile.qcow2'),
      vmdkFlat: flat,
      vmdkFlatPasswd: Buffer.from(flat.toString('latin1').replace(/"flat-flat\.vmdk"/, '"/etc/passwd"'), 'latin1'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An ISO 9660 volume of `blocks` 2 KiB blocks: system area, primary volume descriptor, terminator. */
export function isoImage(blocks: number): Buffer {
  const iso = Buffer.alloc(blocks * 2048);
  const pvd = 16 * 2048;
  iso[pvd] = 1;
  iso.write('CD001', pvd + 1, 'latin1');
  iso[pvd + 6] = 1;
  iso.writeUInt32LE(blocks, pvd + 80);
  iso.writeUInt32BE(blocks, pvd + 84);
  iso.writeUInt16LE(2048, pvd + 128);
  iso.writeUInt16BE(2048, pvd + 130);
  const terminator = pvd + 2048;
  iso[terminator] = 255;
  iso.write('CD001', terminator + 1, 'latin1');
  iso[terminator + 6] = 1;
  return iso;
}

/** Writes `data` to a file (for debugging a failing case with `qemu-img info`). */
export function dump(data: Buffer, file: string): void {
  writeFileSync(file, data);
}
