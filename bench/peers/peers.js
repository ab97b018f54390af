'use strict';

/**
 * Peer image servers for the benchmark: IPX (its own CLI server) and the
 * Next.js built-in image optimizer. Both run as child processes in their own
 * process group on 127.0.0.1 and are killed with their whole tree on stop().
 */

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { setTimeout, clearTimeout } = require('node:timers');

const PEERS_DIR = __dirname;
const NODE_MODULES = path.join(PEERS_DIR, 'node_modules');
const LOCKFILE = path.join(PEERS_DIR, 'package-lock.json');
const IPX_BIN = path.join(NODE_MODULES, 'ipx', 'bin', 'ipx.mjs');
const NEXT_BIN = path.join(NODE_MODULES, 'next', 'dist', 'bin', 'next');
const NEXT_APP_DIR = path.join(PEERS_DIR, 'next-app');
/** Must match `distDir` in next-app/next.config.js. */
const NEXT_DIST_DIR = path.join(NODE_MODULES, '.cache', 'next-app');
const NEXT_SOURCES = [path.join(NEXT_APP_DIR, 'next.config.js'), path.join(NEXT_APP_DIR, 'app'), LOCKFILE];

const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 60_000;
const BUILD_TIMEOUT_MS = 5 * 60_000;
const INSTALL_TIMEOUT_MS = 5 * 60_000;
const STOP_TIMEOUT_MS = 5_000;
const TAIL_LINES = 30;

/** Children still running, killed if the parent exits without stopping them. */
const live = new Set();

process.on('exit', () => {
  for (const child of live) killGroup(child, 'SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    for (const child of live) killGroup(child, 'SIGKILL');
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  });
}

/**
 * Spawns a command in its own process group, keeping the last lines of its
 * output instead of printing them.
 * @param {string} file executable
 * @param {string[]} args
 * @param {{ cwd: string, env?: Record<string,string> }} options
 * @returns {import('node:child_process').ChildProcess & { tail(): string, exited: Promise<number|string> }}
 */
function spawnQuiet(file, args, { cwd, env = {} }) {
  const child = spawn(file, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const lines = [];
  let partial = '';
  const collect = (chunk) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop();
    lines.push(...parts);
    if (lines.length > TAIL_LINES) lines.splice(0, lines.length - TAIL_LINES);
  };
  child.stdout.setEncoding('utf8').on('data', collect);
  child.stderr.setEncoding('utf8').on('data', collect);
  child.tail = () => [...lines, partial].filter(Boolean).join('\n');
  child.exited = new Promise((resolve) => {
    child.on('error', (err) => {
      lines.push(String(err));
      live.delete(child);
      resolve(err.code || 'error');
    });
    child.on('exit', (code, signal) => {
      live.delete(child);
      resolve(signal || code);
    });
  });
  if (child.pid) live.add(child);
  return child;
}

/** Sends a signal to the child's whole process group, ignoring a group already gone. */
function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    /* already gone */
  }
}

/** True while any process of the child's group is still alive. */
function groupAlive(child) {
  try {
    process.kill(-child.pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops a child and its process group: SIGTERM, then SIGKILL after a grace period.
 * Resolves when the group is gone.
 */
async function stopGroup(child) {
  if (!child.pid) return;
  killGroup(child, 'SIGTERM');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while ((live.has(child) || groupAlive(child)) && Date.now() < deadline) await sleep(50);
  if (live.has(child) || groupAlive(child)) {
    killGroup(child, 'SIGKILL');
    await child.exited;
    for (let i = 0; i < 40 && groupAlive(child); i++) await sleep(50);
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Formats a command line for printing, with its extra environment first. */
function commandLine(file, args, env = {}) {
  const quote = (s) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${String(s).replace(/'/g, `'\\''`)}'`);
  const vars = Object.entries(env).map(([k, v]) => `${k}=${quote(v)}`);
  return [...vars, file === process.execPath ? 'node' : file, ...args].map(String).join(' ');
}

/** Builds the error thrown when a peer step fails, with the child's last output. */
function failure(what, reason, child) {
  const tail = child && child.tail();
  return new Error(`${what} failed: ${reason}${tail ? `\n--- last output ---\n${tail}\n---` : ''}`);
}

/**
 * Runs a command to completion (quietly), rejecting with its last output on a
 * non-zero exit or after `timeoutMs`.
 */
async function runStep(what, file, args, { cwd, env, timeoutMs }) {
  console.log(`$ ${commandLine(file, args, env)}${cwd === process.cwd() ? '' : `   (in ${cwd})`}`);
  const started = Date.now();
  const child = spawnQuiet(file, args, { cwd, env });
  let timer;
  const timedOut = new Promise((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const result = await Promise.race([child.exited, timedOut]);
  clearTimeout(timer);
  if (result === 'timeout') {
    await stopGroup(child);
    throw failure(what, `timed out after ${timeoutMs / 1000} s`, child);
  }
  if (result !== 0) throw failure(what, `exited with ${result}`, child);
  console.log(`  ${what} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/** Rejects early with a clear message when something already listens on the port. */
function assertPortFree(name, port) {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err) =>
      reject(new Error(`${name} failed to start: ${HOST}:${port} is not free (${err.code})`)),
    );
    server.listen(port, HOST, () => server.close(resolve));
  });
}

/** Resolves on the first HTTP response (any status) from `url`, rejects on a connection error. */
function probe(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy(new Error('probe timed out')));
    req.on('error', reject);
  });
}

/**
 * Spawns a server (on CPU `core` through taskset, when given) and waits until it
 * answers HTTP on `probeUrl`. On exit, timeout or error the process group is
 * killed and the error carries its output.
 * @returns {Promise<{ command: string, stop(): Promise<void> }>}
 */
async function startServer(name, file, args, { cwd, env, port, probeUrl, core }) {
  await assertPortFree(name, port);
  if (core !== undefined) [file, args] = ['taskset', ['-c', String(core), file, ...args]];
  const command = commandLine(file, args, env);
  const child = spawnQuiet(file, args, { cwd, env });
  const deadline = Date.now() + START_TIMEOUT_MS;
  let exit;
  child.exited.then((result) => (exit = result));
  for (;;) {
    if (exit !== undefined) {
      throw failure(`${name} start`, `process exited with ${exit} before answering on ${probeUrl}`, child);
    }
    if (Date.now() > deadline) {
      await stopGroup(child);
      throw failure(
        `${name} start`,
        `no answer on ${probeUrl} within ${START_TIMEOUT_MS / 1000} s (command: ${command})`,
        child,
      );
    }
    try {
      await probe(probeUrl);
      break;
    } catch {
      await sleep(200);
    }
  }
  return { command, stop: () => stopGroup(child) };
}

/** Latest modification time (ms) of a file or of anything inside a directory; 0 if missing. */
function newestMtime(p) {
  let stat;
  try {
    stat = fs.statSync(p);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  return fs
    .readdirSync(p)
    .reduce((newest, entry) => Math.max(newest, newestMtime(path.join(p, entry))), stat.mtimeMs);
}

/**
 * Installs the peers' dependencies with `npm ci` when node_modules is missing
 * or older than package.json / package-lock.json. Works without stdin and with CI=true.
 */
async function ensurePeersInstalled() {
  const installed = newestMtime(path.join(NODE_MODULES, '.package-lock.json'));
  const wanted = Math.max(newestMtime(LOCKFILE), newestMtime(path.join(PEERS_DIR, 'package.json')));
  if (installed && installed >= wanted) return;
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  await runStep('npm ci (bench/peers)', npm, ['ci', '--no-audit', '--no-fund'], {
    cwd: PEERS_DIR,
    timeoutMs: INSTALL_TIMEOUT_MS,
  });
}

/**
 * Starts IPX's own CLI server on 127.0.0.1:`port`, serving the images in `dir`.
 * NODE_ENV=production keeps IPX's listener (listhen) from moving to another
 * port when the requested one is taken.
 * @param {{ port: number, dir: string, core?: number }} options
 * @returns {Promise<{ name: 'ipx', url(file: string, width: number, quality: number): string, command: string, stop(): Promise<void> }>}
 */
async function startIpx({ port, dir, core }) {
  const base = `http://${HOST}:${port}`;
  const args = [IPX_BIN, 'serve', '--dir', path.resolve(dir), '--host', HOST, '--port', String(port)];
  const server = await startServer('ipx', process.execPath, args, {
    cwd: PEERS_DIR,
    env: { NODE_ENV: 'production' },
    port,
    probeUrl: `${base}/`,
    core,
  });
  return {
    name: 'ipx',
    /** `/w_<width>,q_<quality>/<file>`: no `f_` modifier, so the output keeps the input format. */
    url: (file, width, quality) => `${base}/w_${width},q_${quality}/${encodeURI(file)}`,
    ...server,
  };
}

/** Builds the Next app unless its build output is newer than its sources. */
async function ensureNextBuilt(env) {
  const built = newestMtime(path.join(NEXT_DIST_DIR, 'BUILD_ID'));
  if (built && built >= Math.max(...NEXT_SOURCES.map(newestMtime))) return;
  await runStep('next build', process.execPath, [NEXT_BIN, 'build'], {
    cwd: NEXT_APP_DIR,
    env,
    timeoutMs: BUILD_TIMEOUT_MS,
  });
}

/**
 * Copies `imagePath` into the Next app's public/ folder, builds the app if
 * needed and starts `next start` on 127.0.0.1:`port`. The optimizer's disk
 * cache is emptied first: its key does not include the source's content.
 * @param {{ port: number, imagePath: string, core?: number }} options
 * @returns {Promise<{ name: 'next', url(file: string, width: number, quality: number): string, command: string, stop(): Promise<void> }>}
 */
async function startNext({ port, imagePath, core }) {
  const env = { NEXT_TELEMETRY_DISABLED: '1', NODE_ENV: 'production' };
  const publicDir = path.join(NEXT_APP_DIR, 'public');
  fs.mkdirSync(publicDir, { recursive: true });
  fs.copyFileSync(imagePath, path.join(publicDir, path.basename(imagePath)));
  await ensureNextBuilt(env);
  fs.rmSync(path.join(NEXT_DIST_DIR, 'cache', 'images'), { recursive: true, force: true });

  const base = `http://${HOST}:${port}`;
  const args = [NEXT_BIN, 'start', '-H', HOST, '-p', String(port)];
  const server = await startServer('next', process.execPath, args, {
    cwd: NEXT_APP_DIR,
    env,
    port,
    probeUrl: `${base}/`,
    core,
  });
  return {
    name: 'next',
    url: (file, width, quality) =>
      `${base}/_next/image?url=/${encodeURIComponent(file)}&w=${width}&q=${quality}`,
    ...server,
  };
}

module.exports = { ensurePeersInstalled, startIpx, startNext, PEERS_DIR };
