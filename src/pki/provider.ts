import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import * as pkijs from 'pkijs';

let installed = false;

/**
 * Both libraries keep a process-wide crypto provider. We point them at Node's own WebCrypto once,
 * before the first use, so issuing and validation run on OpenSSL (the same code Node's TLS uses)
 * whatever else in the process has or has not configured.
 */
export function ensureCryptoProviders(): void {
  if (installed) return;
  // The libraries' typings name the DOM `Crypto` type; Node's webcrypto object is that interface.
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const engine = new pkijs.CryptoEngine({
    name: 'medgate-node-webcrypto',
    crypto: webcrypto as unknown as ConstructorParameters<typeof pkijs.CryptoEngine>[0]['crypto'],
  });
  pkijs.setEngine('medgate-node-webcrypto', engine);
  installed = true;
}
