/** The simulator's TLS identity: a self-signed certificate made at start, trusted via `caPem`. */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { generate } from 'selfsigned';

export interface TlsIdentity {
  keyPem: string;
  certPem: string;
}

/** A self-signed P-256 certificate for 127.0.0.1, localhost and `host`, valid for 30 days. */
export async function createTlsIdentity(host: string): Promise<TlsIdentity> {
  const altNames: Array<{ type: 2; value: string } | { type: 7; ip: string }> = [
    { type: 2, value: 'localhost' },
    { type: 7, ip: '127.0.0.1' },
  ];
  if (host !== 'localhost' && host !== '127.0.0.1' && host !== '0.0.0.0' && host !== '::') {
    altNames.push(isIP(host) ? { type: 7, ip: host } : { type: 2, value: host });
  }
  const notBeforeDate = new Date(Date.now() - 60_000);
  const notAfterDate = new Date(notBeforeDate.getTime() + 30 * 24 * 3600 * 1000);
  // A name of its own: a client trusting two simulators (sandbox and production) looks a
  // certificate's issuer up by name, and two certificates with one name would shadow each other.
  const pems = await generate([{ name: 'commonName', value: `callwake APNs simulator ${randomUUID()}` }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames },
    ],
  });
  return { keyPem: pems.private, certPem: pems.cert };
}
