/**
 * The baselines: bare Express 5 sending the bytes that the library's logo route sends, as an
 * application without the library would. Configured by the environment:
 *
 * - `PORT`: where it listens (127.0.0.1)
 * - `BODY`: the file with the bytes; `ETAG`: their ETag, as the library computed it
 * - `REDIS_URL`, `REDIS_KEY`: where `/redis` reads the same bytes from
 *
 * Routes: `/send` is `res.send(buffer)` with Express's defaults (it hashes the body for an ETag on
 * every request); `/end` sets the library's headers and calls `res.end(buffer)`, the most a bare
 * Express handler can do; `/redis` is `/end` after `GETBUFFER` of the bytes with ioredis.
 */
import { readFileSync } from 'node:fs';
import express, { type Response } from 'express';
import { Redis } from 'ioredis';

const body = readFileSync(process.env.BODY as string);
const etag = process.env.ETAG as string;
const ttl = 2592000;

function sendImage(res: Response, bytes: Buffer): void {
  res.setHeader('Content-Type', 'image/png');
  res.setHeader('Cache-Control', `public, max-age=${ttl}`);
  res.setHeader('Expires', new Date(Date.now() + ttl * 1000).toUTCString());
  res.setHeader('ETag', etag);
  res.setHeader('X-Cache', 'HIT');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Content-Length', bytes.length);
  res.end(bytes);
}

const app = express();
app.get('/send', (_req, res) => {
  res.type('png').send(body);
});
app.get('/end', (_req, res) => sendImage(res, body));

if (process.env.REDIS_URL) {
  const redis = new Redis(process.env.REDIS_URL, { enableAutoPipelining: true });
  const key = process.env.REDIS_KEY as string;
  app.get('/redis', (_req, res, next) => {
    redis.getBuffer(key).then((bytes) => {
      if (bytes) sendImage(res, bytes);
      else res.status(404).end();
    }, next);
  });
}

app.listen(Number(process.env.PORT), '127.0.0.1');
