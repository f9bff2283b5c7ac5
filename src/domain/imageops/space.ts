/**
 * imageops' pre-flight space rule for a compress, on the temp directory's filesystem: refused
 * when the image's virtual size does not fit in the free space, or when less than
 * `minFreePercent` of the filesystem would stay free after it (imageops: 20 %).
 */
export function hasRoomFor(virtualSize: number, space: { free: number; total: number }, minFreePercent: number): boolean {
  if (virtualSize >= space.free || space.total <= 0) return false;
  return (space.free - virtualSize) / space.total >= minFreePercent / 100;
}
