// Helpers of the consumer check: child processes, a private redis-server, node_modules walks, tarballs.
/* global setTimeout, clearTimeout */
const { spawn } = require('node:child_process');
const { readdirSync, readFileSync } = require('node:fs');
const { createConnection, createServer } = require('node:net');
const { join, relative, sep } = require('node:path');
const { gunzipSync } = require('node:zlib');

const posix = process.platform !== 'win32';
/** Children still running, killed (with their process groups) if the check stops early. */
const live = new Set();

/** The environment for children, without what `npm run` says of this repository. */
function childEnv(extra) {
  const env = { ...process.env, ...extra };
  for (const key of Object.keys(env)) {
    if (
      /^npm_(package|lifecycle)_/.test(key) ||
      ['npm_config_local_prefix', 'INIT_CWD', 'NODE_PATH'].includes(key)
    ) {
      delete env[key];
    }
  }
  return env;
}

function kill(child, signal) {
  try {
    if (posix) process.kill(-child.pid, signal);
    else child.kill(signal);
  } catch {
    // Already gone.
  }
}

/** Kills every child still running; synchronous, for exit handlers. */
function killAll() {
  for (const child of live) kill(child, 'SIGKILL');
  live.clear();
}

function start(command, args, { cwd, env, stdio }) {
  const child = spawn(command, args, {
    cwd,
    env: childEnv(env),
    stdio,
    detached: posix,
    shell: !posix && command === 'npm',
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/**
 * Runs `command` to completion; rejects on a non-zero exit or after `timeoutMs`. With `capture`, its
 * output is collected (and attached to the error as `output`) instead of shown.
 */
function run(command, args, { cwd, env, timeoutMs, capture = false, label = command }) {
  return new Promise((resolve, reject) => {
    const child = start(command, args, {
      cwd,
      env,
      stdio: ['ignore', capture ? 'pipe' : 'inherit', capture ? 'pipe' : 'inherit'],
    });
    let output = '';
    if (capture) {
      child.stdout.on('data', (chunk) => (output += chunk));
      child.stderr.on('data', (chunk) => (output += chunk));
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      kill(child, 'SIGKILL');
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${label} could not start: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve(output);
      const why = timedOut ? `timed out after ${timeoutMs / 1000}s` : `exited with ${code ?? signal}`;
      reject(Object.assign(new Error(`${label} ${why}`), { output }));
    });
  });
}

/** A free TCP port on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Whether a Redis on 127.0.0.1:`port` answers PING. */
function ping(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    socket.setTimeout(1000, () => socket.destroy());
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk;
      if (reply.includes('\r\n')) socket.destroy();
    });
    socket.on('error', () => undefined);
    socket.once('close', () => resolve(reply.startsWith('+PONG')));
  });
}

/** Starts `redis-server` on a free loopback port, without persistence; resolves once it answers PING. */
async function startRedis() {
  const port = await freePort();
  const child = start(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout.on('data', (chunk) => (log = (log + chunk).slice(-2000)));
  child.stderr.on('data', (chunk) => (log = (log + chunk).slice(-2000)));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let failure;
  child.once('error', (error) => (failure = error));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null || failure) return;
    kill(child, 'SIGTERM');
    const timer = setTimeout(() => kill(child, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 10000;
  for (;;) {
    if (failure)
      throw new Error(`redis-server could not start (${failure.message}): install it or set REDIS_URL`);
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}:\n${log}`);
    if (await ping(port)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server on port ${port} did not answer PING:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url: `redis://127.0.0.1:${port}`, stop };
}

/**
 * Where any of `names` (`express`, `@nestjs/swagger`) is installed under `dir`/node_modules: every
 * folder of that name with a package.json, at any depth. Symbolic links are not followed.
 */
function findPackages(dir, names) {
  const wanted = names.map((name) => name.split('/'));
  const found = [];
  const visit = (folder, parts) => {
    let entries;
    try {
      entries = readdirSync(folder, { withFileTypes: true });
    } catch {
      return;
    }
    const hasManifest = entries.some((entry) => entry.name === 'package.json' && entry.isFile());
    const at = (name) => parts.length - name.length;
    const matches = (name) =>
      name.every((part, i) => parts[at(name) + i] === part) &&
      // `express` is not `@types/express`.
      (name.length > 1 || !parts[at(name) - 1].startsWith('@'));
    if (hasManifest && wanted.some(matches)) {
      found.push(relative(dir, folder).split(sep).join('/'));
    }
    for (const entry of entries) {
      if (entry.isDirectory()) visit(join(folder, entry.name), [...parts, entry.name]);
    }
  };
  visit(join(dir, 'node_modules'), ['node_modules']);
  return found;
}

/** The package.json inside an npm tarball (`package/package.json`). */
function tarballManifest(file) {
  const tar = gunzipSync(readFileSync(file));
  for (let offset = 0; offset + 512 <= tar.length;) {
    const name = tar.toString('utf8', offset, offset + 100).replace(/\0.*$/s, '');
    if (!name) break;
    const size =
      parseInt(
        tar
          .toString('utf8', offset + 124, offset + 136)
          .replace(/\0.*$/s, '')
          .trim(),
        8,
      ) || 0;
    if (name === 'package/package.json') {
      return JSON.parse(tar.toString('utf8', offset + 512, offset + 512 + size));
    }
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`${file} has no package/package.json`);
}

module.exports = { run, killAll, startRedis, findPackages, tarballManifest };
