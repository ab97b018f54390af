// The consumer apps: what each installs, what must be absent from its node_modules, and its sources.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..', '..');
const rootPkg = require(join(root, 'package.json'));
const PROBE = readFileSync(join(__dirname, 'probe.cjs'), 'utf8');

/** `name@version` as the root package.json pins it. */
function pinned(name) {
  const version = rootPkg.dependencies?.[name] ?? rootPkg.devDependencies?.[name];
  if (!version) throw new Error(`${name} is not pinned in the root package.json`);
  return `${name}@${version}`;
}

const NEST_12 = '12.5.1';
const nest = (version, ...names) => names.map((name) => (version ? `${name}@${version}` : pinned(name)));
const BASE = () => ['reflect-metadata', 'rxjs', 'sharp'].map(pinned);

/** The library's optional peers, as its package.json declares them. */
const OPTIONAL_PEERS = Object.keys(
  require(join(root, 'libs', 'image-resize', 'package.json')).peerDependenciesMeta,
);

const LOGO = `sharp({ create: { width: 600, height: 300, channels: 4, background: '#1d4ed8' } }).png().toBuffer()`;

/** A plain-JavaScript app; decorators are applied by hand. */
function jsApp({ name, esm = false, fastify = false, redis = false }) {
  const probeNames = redis ? 'run, redisHolds' : 'run';
  const imports = esm
    ? [
        "import 'reflect-metadata';",
        "import { Controller, Get, Module } from '@nestjs/common';",
        "import { NestFactory } from '@nestjs/core';",
        fastify && "import { FastifyAdapter } from '@nestjs/platform-fastify';",
        "import { ImageResizeModule, ResizedImage } from 'nestjs-image-resize';",
        "import sharp from 'sharp';",
        `import { ${probeNames} } from './probe.cjs';`,
      ]
    : [
        "require('reflect-metadata');",
        "const { Controller, Get, Module } = require('@nestjs/common');",
        "const { NestFactory } = require('@nestjs/core');",
        fastify && "const { FastifyAdapter } = require('@nestjs/platform-fastify');",
        "const { ImageResizeModule, ResizedImage } = require('nestjs-image-resize');",
        "const sharp = require('sharp');",
        `const { ${probeNames} } = require('./probe.js');`,
      ];
  const options = redis
    ? [
        'const options = { redis: process.env.REDIS_URL };',
        '// With a shared REDIS_URL: keys of this run only, short-lived.',
        'if (process.env.KEY_PREFIX) Object.assign(options, { keyPrefix: process.env.KEY_PREFIX, ttl: 600 });',
      ]
    : ['const options = {};'];
  const after = redis
    ? `, (body) => redisHolds(process.env.REDIS_URL, process.env.KEY_PREFIX || 'image_resize_', body)`
    : '';
  return `${imports.filter(Boolean).join('\n')}

${options.join('\n')}

class LogoController {
  logo() {
    return ${LOGO};
  }
}
const descriptor = Object.getOwnPropertyDescriptor(LogoController.prototype, 'logo');
Get('logo.png')(LogoController.prototype, 'logo', descriptor);
ResizedImage({ width: 100, height: 100 })(LogoController.prototype, 'logo', descriptor);
Controller()(LogoController);

class AppModule {}
Module({ imports: [ImageResizeModule.forRoot(options)], controllers: [LogoController] })(AppModule);

run(${JSON.stringify(name)}, () => NestFactory.create(AppModule, ${fastify ? 'new FastifyAdapter(), ' : ''}{ logger: ['error'] })${after});
`;
}

/** A strictly typed TypeScript app with real decorators; `testing`: also type-check that entry. */
function tsApp({ name, testing }) {
  return `import 'reflect-metadata';
import { Controller, Get, Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  ImageResizeModule,
  ResizedImage,
  type ImageResizeModuleOptions,
  type ImageSource,
  type ResizedImageOptions,
} from 'nestjs-image-resize';
${testing ? "import type * as Testing from 'nestjs-image-resize/testing';\n" : ''}import sharp from 'sharp';
import { run } from './probe';

const options: ImageResizeModuleOptions = { memory: { maxBytes: 8 * 1024 * 1024 } };
const logoSpec: ResizedImageOptions = { width: 100, height: 100 };

@Controller()
class LogoController {
  @Get('logo.png')
  @ResizedImage(logoSpec)
  logo(): Promise<ImageSource> {
    return ${LOGO};
  }
}

@Module({ imports: [ImageResizeModule.forRoot(options)], controllers: [LogoController] })
class AppModule {}
${testing ? '\nexport type TestingExports = keyof typeof Testing;\n' : ''}
const bootstrap = (): Promise<INestApplication> => NestFactory.create(AppModule, { logger: ['error'] });
run(${JSON.stringify(name)}, bootstrap);
`;
}

const PROBE_TYPES = `import type { INestApplication } from '@nestjs/common';

export declare function run(
  name: string,
  bootstrap: () => Promise<INestApplication>,
  after?: (body: Buffer) => Promise<string>,
): void;
`;

const TSCONFIG = {
  compilerOptions: {
    strict: true,
    skipLibCheck: false,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    module: 'commonjs',
    target: 'ES2022',
    esModuleInterop: true,
    forceConsistentCasingInFileNames: true,
    noEmitOnError: true,
  },
  files: ['main.ts'],
};

/**
 * The apps, given the package.json of the tarball. `absent`: packages that must not be anywhere in the
 * app's node_modules; `compile`: run tsc first; `redis`: give the app a Redis in REDIS_URL.
 */
function consumerApps(lib) {
  const testing = Boolean(lib.exports?.['./testing']);
  return [
    {
      name: 'nest11-express-redis',
      packages: [
        ...nest(null, '@nestjs/common', '@nestjs/core', '@nestjs/platform-express'),
        ...BASE(),
        pinned('ioredis'),
      ],
      redis: true,
      main: 'main.js',
      files: (name) => ({ 'probe.js': PROBE, 'main.js': jsApp({ name, redis: true }) }),
    },
    {
      name: 'nest11-fastify',
      packages: [...nest(null, '@nestjs/common', '@nestjs/core', '@nestjs/platform-fastify'), ...BASE()],
      absent: ['express', '@nestjs/platform-express'],
      main: 'main.js',
      files: (name) => ({ 'probe.js': PROBE, 'main.js': jsApp({ name, fastify: true }) }),
    },
    {
      name: 'nest11-memory-typed',
      packages: [
        ...nest(null, '@nestjs/common', '@nestjs/core', '@nestjs/platform-express'),
        ...BASE(),
        pinned('typescript'),
        pinned('@types/node'),
        // The testing entry's declarations may need @nestjs/testing, when the package says so.
        ...(testing && lib.peerDependencies?.['@nestjs/testing'] ? [pinned('@nestjs/testing')] : []),
      ],
      absent: OPTIONAL_PEERS,
      compile: true,
      main: 'main.js',
      files: (name) => ({
        'probe.js': PROBE,
        'probe.d.ts': PROBE_TYPES,
        'main.ts': tsApp({ name, testing }),
        'tsconfig.json': `${JSON.stringify(TSCONFIG, null, 2)}\n`,
      }),
    },
    {
      name: 'nest12-esm',
      type: 'module',
      packages: [...nest(NEST_12, '@nestjs/common', '@nestjs/core', '@nestjs/platform-express'), ...BASE()],
      main: 'main.mjs',
      files: (name) => ({ 'probe.cjs': PROBE, 'main.mjs': jsApp({ name, esm: true }) }),
    },
  ];
}

module.exports = { consumerApps, pinned };
