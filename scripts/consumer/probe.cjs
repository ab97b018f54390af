'use strict';
/* global fetch, Buffer */
// Copied into every consumer app (as probe.js or probe.cjs): checks what the installed library
// loads, then boots the app and requests its @ResizedImage() route twice.
const assert = require('node:assert');
const { existsSync, readFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { dirname, join } = require('node:path');
const sharp = require('sharp');

/** [status, content type, X-Cache, width, height] of the two answers: a 600x300 PNG fitted in 100x100. */
const EXPECTED = [
  [200, 'image/png', 'MISS', 100, 50],
  [200, 'image/png', 'HIT', 100, 50],
];

/** The version of the ipaddr.js that the library itself resolves, not Express's or the app's. */
function ipaddrVersion() {
  const fromLibrary = createRequire(require.resolve('nestjs-image-resize'));
  const file = fromLibrary.resolve('ipaddr.js/package.json');
  const { version } = JSON.parse(readFileSync(file, 'utf8'));
  // At least the minimum the library declares (a caret range on 2.x): older 2.x releases class
  // reserved ranges such as 3fff::/20 as public.
  const declared = require('nestjs-image-resize/package.json').dependencies['ipaddr.js'];
  const [major, minor] = version.split('.').map(Number);
  const [, wantMajor, wantMinor] = /^\^(\d+)\.(\d+)\./.exec(declared).map(Number);
  assert.ok(
    major === 2 && wantMajor === 2 && minor >= wantMinor,
    `the library loads ipaddr.js ${version} (${file}); it declares ${declared}`,
  );
  return version;
}

/** Runs the library's check of the Nest internals it relies on, when the package has one. */
function nestContract() {
  // Found by path: the package's `exports` hides dist/.
  const packageDir = dirname(require.resolve('nestjs-image-resize/package.json'));
  const file = join(packageDir, 'dist', 'decorators', 'nest-internals.js');
  if (!existsSync(file)) return 'skipped (the package has no dist/decorators/nest-internals.js)';
  const { checkNestContract } = require(file);
  assert.strictEqual(typeof checkNestContract, 'function', `${file} exports no checkNestContract()`);
  checkNestContract();
  return 'ok';
}

/** Listens on loopback, requests /logo.png twice and closes the app. */
async function serve(app) {
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address();
  const seen = [];
  const notes = [];
  let body;
  try {
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/logo.png`);
      body = Buffer.from(await res.arrayBuffer());
      const size = await sharp(body)
        .metadata()
        .then(
          ({ width, height }) => [width, height],
          () => {
            notes.push(`answer ${i + 1} is no image: ${body.subarray(0, 300).toString('utf8')}`);
            return [null, null];
          },
        );
      seen.push([res.status, res.headers.get('content-type'), res.headers.get('x-cache'), ...size]);
    }
  } finally {
    await app.close();
  }
  return { seen, body, notes };
}

/**
 * Checks that Redis holds the image served: a key with `prefix` (not a group or lock key, which
 * contain "#") whose value ends with the bytes of the HIT.
 */
async function redisHolds(url, prefix, served) {
  const { Redis } = require('ioredis');
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  try {
    const keys = [];
    let cursor = '0';
    do {
      const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    const images = keys.filter((key) => !key.includes('#'));
    assert.ok(
      images.length > 0,
      `Redis has no image key with prefix ${prefix} (keys: ${JSON.stringify(keys)})`,
    );
    for (const key of images) {
      const stored = await client.getBuffer(key);
      const ttl = await client.pttl(key);
      if (stored && ttl > 0 && stored.subarray(stored.length - served.length).equals(served)) {
        return `redis holds ${key} (${stored.length} bytes, ttl ${Math.round(ttl / 1000)}s)`;
      }
    }
    assert.fail(`no key of ${JSON.stringify(images)} holds the image served (with a TTL)`);
  } finally {
    client.disconnect();
  }
}

/** Checks the library, boots the app with `bootstrap`, checks what it served; exits 0 or 1. */
function run(name, bootstrap, after) {
  (async () => {
    const ipaddr = ipaddrVersion();
    console.log(`${name}: nest contract: ${nestContract()}`);
    const app = await bootstrap();
    const { seen, body, notes } = await serve(app);
    assert.deepStrictEqual(seen, EXPECTED, [`served ${JSON.stringify(seen)}`, ...notes].join('\n'));
    console.log(`${name}: ipaddr.js ${ipaddr}, served ${JSON.stringify(seen)}`);
    if (after) console.log(`${name}: ${await after(body)}`);
  })().then(
    () => process.exit(0),
    (error) => {
      console.error(`${name}: FAILED`);
      console.error(error);
      process.exit(1);
    },
  );
}

module.exports = { run, redisHolds };
