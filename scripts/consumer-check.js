#!/usr/bin/env node
// Packs the library, installs the tarball with its peer dependencies into new Nest apps in temporary
// folders (nothing else from this repository), boots each and requests a resized image twice:
// - a CommonJS app on Nest 11 (the versions this repository pins), and
// - an ES-module app on Nest 12, which is ESM-only (Node loads it from the library's CommonJS).
const { execFileSync } = require('node:child_process');
const { mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const root = join(__dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const rootPkg = require(join(root, 'package.json'));
const pinned = (name) => `${name}@${rootPkg.dependencies[name] ?? rootPkg.devDependencies[name]}`;
const NEST_12 = '12.5.1';

const packOutput = execFileSync('node', [join(__dirname, 'pack-lib.js')], { cwd: root, encoding: 'utf8' });
const tarball = packOutput.trim().split('\n').pop();

const APP = (
  esm,
) => `${esm ? "import 'reflect-metadata';\nimport assert from 'node:assert';\nimport { Module, Controller, Get } from '@nestjs/common';\nimport { NestFactory } from '@nestjs/core';\nimport { ImageResizeModule, ResizedImage } from 'nestjs-image-resize';\nimport sharp from 'sharp';" : "require('reflect-metadata');\nconst assert = require('node:assert');\nconst { Module, Controller, Get } = require('@nestjs/common');\nconst { NestFactory } = require('@nestjs/core');\nconst { ImageResizeModule, ResizedImage } = require('nestjs-image-resize');\nconst sharp = require('sharp');"}

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
  console.log('served', JSON.stringify(seen));
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
`;

function check(name, { esm, nest }) {
  const dir = mkdtempSync(join(tmpdir(), `nestjs-image-resize-${name}-`));
  try {
    const pkg = { name: `consumer-${name}`, private: true, ...(esm ? { type: 'module' } : {}) };
    writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2));
    const nestPackages = ['@nestjs/common', '@nestjs/core', '@nestjs/platform-express'].map((pkgName) =>
      nest ? `${pkgName}@${nest}` : pinned(pkgName),
    );
    const others = ['reflect-metadata', 'rxjs', 'sharp'].map(pinned);
    execFileSync(npm, ['install', '--no-audit', '--no-fund', ...nestPackages, ...others, tarball], {
      cwd: dir,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const main = esm ? 'main.mjs' : 'main.js';
    writeFileSync(join(dir, main), APP(esm));
    process.stdout.write(`${name}: `);
    execFileSync('node', [main], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

check('nest11-commonjs', { esm: false });
check('nest12-esm', { esm: true, nest: NEST_12 });
console.log('consumer check passed');
