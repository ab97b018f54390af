'use strict';

/**
 * Smoke test of the peers: makes a 2048x1536 JPEG, starts IPX and Next on
 * free loopback ports, requests a 256 px q75 resize three times from each,
 * runs a short wrk against each and stops them. Exits non-zero on any problem.
 * Usage: node bench/peers/smoke.js
 */

const { Buffer } = require('node:buffer');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { ensurePeersInstalled, startIpx, startNext } = require('./peers');

const sharp = require(require.resolve('sharp', { paths: [path.join(__dirname, '..', '..')] }));

const WIDTH = 256;
const QUALITY = 75;
const FILE = 'smoke.jpg';
const HEADERS = ['content-type', 'content-length', 'cache-control', 'etag', 'x-nextjs-cache'];

/** Writes a photo-like 2048x1536 JPEG (gradients plus noise) and returns its path. */
async function makeImage(dir) {
  const width = 2048;
  const height = 1536;
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i += 3) {
      const noise = (((x * 7919) ^ (y * 104729)) & 31) - 16;
      pixels[i] = Math.max(0, Math.min(255, (x * 255) / width + noise));
      pixels[i + 1] = Math.max(0, Math.min(255, (y * 255) / height - noise));
      pixels[i + 2] = Math.max(0, Math.min(255, 128 + 90 * Math.sin(x / 40) * Math.cos(y / 30) + noise));
    }
  }
  const file = path.join(dir, FILE);
  await sharp(pixels, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toFile(file);
  return file;
}

/** Asks the OS for a free port on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** GETs a URL with no Accept header (like wrk) and returns status, headers and body. */
function get(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      })
      .on('error', reject);
  });
}

/** Requests the peer's URL three times, prints what came back and checks it is a 256 px wide JPEG. */
async function check(peer) {
  const url = peer.url(FILE, WIDTH, QUALITY);
  console.log(`\n[${peer.name}] ${peer.command}\n[${peer.name}] GET ${url}`);
  for (let i = 1; i <= 3; i++) {
    const { status, headers, body } = await get(url);
    const meta = status === 200 ? await sharp(body).metadata() : {};
    const shown = HEADERS.filter((h) => headers[h] !== undefined).map((h) => `${h}: ${headers[h]}`);
    console.log(
      `  #${i} ${status} ${shown.join(' | ')} | decoded ${meta.format} ${meta.width}x${meta.height}`,
    );
    if (status !== 200 || headers['content-type'] !== 'image/jpeg' || meta.width !== WIDTH) {
      throw new Error(
        `${peer.name}: expected a ${WIDTH} px wide image/jpeg, got ${status} ${headers['content-type']}`,
      );
    }
  }
  return url;
}

/** Runs `wrk -t1 -c32 -d3s` against the URL and prints its Requests/sec line. */
function wrk(peer, url) {
  const args = ['-t1', '-c32', '-d3s', url];
  const result = spawnSync(process.env.WRK || 'wrk', args, { encoding: 'utf8', timeout: 30_000 });
  if (result.status !== 0) throw new Error(`wrk failed: ${result.error || result.stderr}`);
  const pick = (re) => (result.stdout.match(re) || [''])[0].trim();
  console.log(`  wrk ${args.join(' ')}`);
  console.log(`  ${pick(/^Requests\/sec:.*$/m)}`);
  const errors = pick(/^\s*(Non-2xx or 3xx responses|Socket errors):.*$/m);
  if (errors) throw new Error(`${peer.name}: wrk saw ${errors}`);
}

async function main() {
  await ensurePeersInstalled();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peers-smoke-'));
  const peers = [];
  try {
    const imagePath = await makeImage(dir);
    console.log(`source ${imagePath} (${fs.statSync(imagePath).size} bytes, 2048x1536)`);
    peers.push(await startIpx({ port: await freePort(), dir }));
    peers.push(await startNext({ port: await freePort(), imagePath }));
    for (const peer of peers) wrk(peer, await check(peer));
  } finally {
    await Promise.all(peers.map((peer) => peer.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log('\nsmoke ok');
}

main().catch((err) => {
  console.error(err.stack || err);
  process.exitCode = 1;
});
