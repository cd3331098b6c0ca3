// tests/lib/nats.mjs - publishes one message on a nats-server, speaking the
// NATS text protocol over a socket (as tests/integration/natsclient.py and
// examples/storage-change do): the Node tests need no NATS client package
// for the one thing they send, a storage provider's CloudEvent.

import net from 'node:net';

// A publish is confirmed by the PONG that answers the PING sent after it:
// the server handles a connection's commands in order.
const PUBLISH_TIMEOUT_MS = 5000;

/**
 * Publishes `payload` (a string) on `subject` with `headers` (an object)
 * at `url` (nats://host:port). Resolves once the server has handled it;
 * rejects on -ERR, a closed connection or after PUBLISH_TIMEOUT_MS.
 */
export function natsPublish(url, subject, payload, headers = {}) {
  const { hostname, port } = new URL(url);
  const body = Buffer.from(payload);
  const head = Buffer.from(`NATS/1.0\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(port), hostname);
    let got = '';
    let sent = false;
    let done = false;
    const timer = setTimeout(() => finish(new Error(`no PONG from ${url} within ${PUBLISH_TIMEOUT_MS} ms`)),
      PUBLISH_TIMEOUT_MS);
    function finish(err) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve();
    }
    sock.on('error', finish);
    sock.on('close', () => finish(new Error(`${url} closed the connection: ${got.slice(0, 200)}`)));
    sock.on('data', (chunk) => {
      got += chunk.toString('latin1');
      if (/^-ERR/m.test(got)) {
        finish(new Error(`${url}: ${got.match(/^-ERR.*$/m)[0]}`));
      } else if (!sent && got.includes('\r\n') && got.startsWith('INFO')) {
        sent = true;
        got = '';
        sock.write(`CONNECT {"verbose":false,"pedantic":false,"headers":true,"lang":"node","version":"0"}\r\n`);
        sock.write(`HPUB ${subject} ${head.length} ${head.length + body.length}\r\n`);
        sock.write(Buffer.concat([head, body, Buffer.from('\r\nPING\r\n')]));
      } else if (sent && /^PONG\r\n/m.test(got)) {
        finish();
      }
    });
  });
}
