/** Provider signing keys for the simulator: P-256 pairs shaped like Apple's .p8 keys. */
import { generateKeyPairSync } from 'node:crypto';
import type { SimulatorKey } from './types.js';

/**
 * A fresh P-256 key pair for `teamId`/`keyId`. The private key is PKCS#8 PEM, the format of the
 * .p8 file Apple issues; hand `publicKey` to `ApnsSimulator.trustKey`. Kept in memory only:
 * never write it to the repository.
 */
export function createSimulatorKey(teamId: string, keyId: string): SimulatorKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const privateKeyPem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  return { teamId, keyId, privateKeyPem, publicKey };
}
