#!/usr/bin/env node
// Packs the library and installs the tarball, with its peers, into new apps in temporary folders
// (nothing else from this repository), one after another; boots each and checks over HTTP that a
// @ResizedImage() route answers MISS then HIT with the resized image (see scripts/consumer/apps.js):
// - nest11-express-redis: CommonJS, Express, cached in a private redis-server (or REDIS_URL);
// - nest11-fastify: Fastify only, no express package anywhere;
// - nest11-memory-typed: TypeScript compiled strictly (skipLibCheck off), no optional peer installed;
// - nest12-esm: an ES-module app on Nest 12, which is ESM-only.
const { copyFileSync, mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { basename, join } = require('node:path');
const { consumerApps } = require('./consumer/apps');
const { findPackages, killAll, run, startRedis, tarballManifest } = require('./consumer/support');

const root = join(__dirname, '..');
const INSTALL_TIMEOUT_MS = 300_000;
const COMPILE_TIMEOUT_MS = 120_000;
const APP_TIMEOUT_MS = 60_000;

const temps = new Set();
function removeTemps() {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  temps.clear();
}
function tempDir(name) {
  const dir = mkdtempSync(join(tmpdir(), `nestjs-image-resize-${name}-`));
  temps.add(dir);
  return dir;
}
process.on('exit', () => {
  killAll();
  removeTemps();
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    console.error(`consumer check: ${signal}, stopping`);
    process.exit(1);
  });
}

const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)}s`;

/** Builds and packs the library; returns a copy of the tarball in a folder of this run. */
async function pack(work) {
  const output = await run(process.execPath, [join(__dirname, 'pack-lib.js')], {
    cwd: root,
    timeoutMs: COMPILE_TIMEOUT_MS,
    capture: true,
    label: 'packing the library (scripts/pack-lib.js)',
  }).catch((error) => {
    console.error(error.output);
    throw error;
  });
  const lines = output.trim().split('\n');
  console.log(lines.slice(0, -1).join('\n'));
  const tarball = join(work, basename(lines.at(-1)));
  copyFileSync(lines.at(-1), tarball);
  return tarball;
}

async function check(app, tarball) {
  const dir = tempDir(app.name);
  let redis;
  try {
    const pkg = {
      name: `consumer-${app.name}`,
      version: '1.0.0',
      private: true,
      type: app.type ?? 'commonjs',
    };
    writeFileSync(join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
    console.log(`${app.name}: npm install ${app.packages.join(' ')} ${basename(tarball)}`);
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...app.packages, tarball], {
      cwd: dir,
      timeoutMs: INSTALL_TIMEOUT_MS,
      label: 'npm install',
    });

    const present = findPackages(dir, app.absent ?? []);
    if (present.length > 0) throw new Error(`must not be installed, but are: ${present.join(', ')}`);
    if (app.absent) console.log(`${app.name}: not installed: ${app.absent.join(', ')}`);

    for (const [file, text] of Object.entries(app.files(app.name))) writeFileSync(join(dir, file), text);
    if (app.compile) {
      const tsc = join(dir, 'node_modules', 'typescript', 'bin', 'tsc');
      await run(process.execPath, [tsc, '-p', 'tsconfig.json'], {
        cwd: dir,
        timeoutMs: COMPILE_TIMEOUT_MS,
        capture: true,
        label: 'tsc (strict, skipLibCheck: false)',
      });
      console.log(`${app.name}: tsc (strict, skipLibCheck: false): no errors`);
    }

    const env = {};
    if (app.redis) {
      if (process.env.REDIS_URL) {
        // A shared database: keys of this run only, short-lived.
        env.REDIS_URL = process.env.REDIS_URL;
        env.KEY_PREFIX = `consumer_check_${process.pid}_${Date.now()}_`;
      } else {
        redis = await startRedis();
        env.REDIS_URL = redis.url;
        env.KEY_PREFIX = '';
      }
    }
    await run(process.execPath, [app.main], { cwd: dir, env, timeoutMs: APP_TIMEOUT_MS, label: 'the app' });
  } finally {
    if (redis) await redis.stop();
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    temps.delete(dir);
  }
}

async function main() {
  const started = Date.now();
  const work = tempDir('tarball');
  const tarball = await pack(work);
  const lib = tarballManifest(tarball);
  console.log(`tarball ${lib.name}@${lib.version}, exports: ${Object.keys(lib.exports ?? {}).join(' ')}`);
  const failures = [];
  for (const app of consumerApps(lib)) {
    const since = Date.now();
    console.log(`\n== ${app.name}`);
    try {
      await check(app, tarball);
      console.log(`${app.name}: passed in ${seconds(since)}`);
    } catch (error) {
      if (error.output) console.error(error.output.trimEnd());
      console.error(`${app.name}: FAILED in ${seconds(since)}: ${error.message}`);
      failures.push(app.name);
    }
  }
  console.log('');
  if (failures.length > 0) {
    console.error(`consumer check FAILED in ${seconds(started)}: ${failures.join(', ')}`);
    process.exitCode = 1;
  } else {
    console.log(`consumer check passed in ${seconds(started)}`);
  }
}

main().catch((error) => {
  console.error(`consumer check FAILED: ${error.stack ?? error}`);
  process.exitCode = 1;
});
