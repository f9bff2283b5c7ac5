import type { Logger } from '../lib/logger';
import type { ImageRepository, WriteLease } from './repositories';

/** A write lease's length when none is configured (`[glint] write_lease_time`). */
export const DEFAULT_WRITE_LEASE_MS = 60_000;

/** A fresh lease for `holder`, expiring `leaseMs` from now. */
export function newWriteLease(holder: string, leaseMs: number): WriteLease {
  return { holder, expiresAt: new Date(Date.now() + leaseMs) };
}

/**
 * Keeps the write lease `holder` holds on image `imageId` alive: renews it every third of
 * `leaseMs` until the returned function is called. Calls `onLost` (once) when the catalog refuses
 * a renewal (the image was deleted, or the reconciler recovered the write) or when renewals keep
 * failing until the lease would run out: then another node may act on the image, and the write
 * must stop before it does.
 */
export function keepWriteLease(
  images: ImageRepository,
  imageId: string,
  holder: string,
  leaseMs: number,
  onLost: () => void,
  logger: Logger,
): () => void {
  const heartbeatMs = Math.max(1, Math.floor(leaseMs / 3));
  let heldUntil = Date.now() + leaseMs;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  const lost = () => {
    if (stopped) return;
    stopped = true;
    onLost();
  };
  const beat = async () => {
    const asked = Date.now();
    try {
      if (!(await images.renewWriteLease(imageId, holder, new Date(asked + leaseMs)))) return lost();
      heldUntil = asked + leaseMs;
    } catch (err) {
      logger.warn('write lease renewal failed', { imageId, error: String(err) });
      if (Date.now() + heartbeatMs >= heldUntil) return lost();
    }
    if (!stopped) timer = setTimeout(() => void beat(), heartbeatMs);
  };
  timer = setTimeout(() => void beat(), heartbeatMs);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
