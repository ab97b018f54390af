#!/usr/bin/env node
// Packs the library, installs the tarball with its peer dependencies into a new Nest app in a
// temporary folder (nothing else from this repository), boots it and requests a resized image twice.
const { execFileSync } = require('node:child_process');
const { mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const root = join(__dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const rootPkg = require(join(root, 'package.json'));
const pinned = (name) => `${name}@${rootPkg.dependencies[name] ?? rootPkg.devDependencies[name]}`;

const packOutput = execFileSync('node', [join(__dirname, 'pack-lib.js')], { cwd: root, encoding: 'utf8' });
const tarball = packOutput.trim().split('\n').pop();

const dir = mkdtempSync(join(tmpdir(), 'nestjs-image-resize-consumer-'));
try {
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true }, null, 2));
  const peers = [
    '@nestjs/common',
    '@nestjs/core',
    '@nestjs/platform-express',
    'reflect-metadata',
    'rxjs',
    'sharp',
  ];
  execFileSync(npm, ['install', '--no-audit', '--no-fund', ...peers.map(pinned), tarball], {
    cwd: dir,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  writeFileSync(
    join(dir, 'main.js'),
    `require('reflect-metadata');
const assert = require('node:assert');
const { Module, Controller, Get } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { ImageResizeModule, ResizedImage } = require('nestjs-image-resize');
const sharp = require('sharp');

class LogoController {
  logo() {
    return sharp({ create: { width: 600, height: 300, channels: 4, background: '#1d4ed8' } }).png().toBuffer();
  }
}
const descriptor = Object.getOwnPropertyDescriptor(LogoController.prototype, 'logo');
Get('logo.png')(LogoController.prototype, 'logo', descriptor);
ResizedImage({ width: 100, height: 100 })(LogoController.prototype, 'logo', descriptor);
Controller()(LogoController);
class AppModule {}
Module({ imports: [ImageResizeModule.forRoot({})], controllers: [LogoController] })(AppModule);

(async () => {
  const app = await NestFactory.create(AppModule, { logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address();
  const seen = [];
  for (let i = 0; i < 2; i++) {
    const res = await fetch('http://127.0.0.1:' + port + '/logo.png');
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    seen.push([res.status, res.headers.get('content-type'), res.headers.get('x-cache'), meta.width, meta.height]);
  }
  await app.close();
  assert.deepStrictEqual(seen, [
    [200, 'image/png', 'MISS', 100, 50],
    [200, 'image/png', 'HIT', 100, 50],
  ]);
  console.log('consumer app served', JSON.stringify(seen));
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
`,
  );
  execFileSync('node', ['main.js'], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
  console.log('consumer check passed');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
