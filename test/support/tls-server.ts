import { createServer, type Server } from 'node:tls';
import type { AddressInfo } from 'node:net';

/**
 * A self-signed certificate for `localhost` and 127.0.0.1, valid from 2000 to 2100 (P-256), and its
 * key: for tests of TLS errors only, trusted by nothing.
 */
export const TEST_TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgLgSBnyi9gq50Izz2
iKKz9ri3yZBR1HA50olrqN7bTfyhRANCAAQy27QpPBShmwlLQRcXvO4cV9GUOsBd
Rqh+EmDWZCcoAwCji0/EMO34+lVuAXdbldt7ZQuyXiGcnsWHBF5lrW2n
-----END PRIVATE KEY-----
`;
export const TEST_TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIBYTCCAQigAwIBAgICEAAwCgYIKoZIzj0EAwIwFDESMBAGA1UEAwwJbG9jYWxo
b3N0MCAXDTAwMDEwMTAwMDAwMFoYDzIxMDAwMTAxMDAwMDAwWjAUMRIwEAYDVQQD
DAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQy27QpPBShmwlL
QRcXvO4cV9GUOsBdRqh+EmDWZCcoAwCji0/EMO34+lVuAXdbldt7ZQuyXiGcnsWH
BF5lrW2no0gwRjAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCQYDVR0TBAIw
ADAdBgNVHQ4EFgQUjTXuSS0CF9tRKic6BNIEBXmCaqgwCgYIKoZIzj0EAwIDRwAw
RAIgJ7iPbyY1GdEnRyZqBAFCWWmtD6ZRKxorry3R1pYnk70CIERulSY855bbO+Hz
VXRgtbty746+b1bDQpZTCtz4sRd5
-----END CERTIFICATE-----
`;

/** A TLS port on 127.0.0.1 with {@link TEST_TLS_CERT}, as a client of a TLS Redis meets it; it closes every connection. */
export interface TestTlsPort {
  port: number;
  close(): Promise<void>;
}

export async function startTlsPort(): Promise<TestTlsPort> {
  const server: Server = createServer({ key: TEST_TLS_KEY, cert: TEST_TLS_CERT }, (socket) =>
    socket.destroy(),
  );
  // Plaintext clients and clients that refuse the certificate end their handshakes here.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
