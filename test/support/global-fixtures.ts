import { stopSharedRgw } from './rgw';

/**
 * Mocha global fixtures, loaded through .mocharc.json's `require`. The teardown runs after the last
 * suite and before mocha's `exit: true` ends the process: it stops the shared Ceph RGW cluster
 * (test/support/rgw.ts) if a suite started one.
 */
export async function mochaGlobalTeardown(): Promise<void> {
  await stopSharedRgw();
}
