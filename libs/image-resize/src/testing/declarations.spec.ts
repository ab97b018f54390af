import { readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import * as ts from 'typescript';

// Compiles an app against the declarations of `nestjs-image-resize/testing`, as they would be
// published, with `strict` and `skipLibCheck: false`, while the optional peers are hidden.

const LIB = join(__dirname, '..', '..');
const ROOT = join(LIB, '..', '..');
/** Nothing is written here: the files below exist only in memory. */
const SANDBOX = join(ROOT, '.declarations-check');
const PACKAGE = join(SANDBOX, 'node_modules', 'nestjs-image-resize');
const APP = join(SANDBOX, 'app', 'main.ts');

/** The library's optional peers as its package.json declares them, and a store an app may add. */
const OPTIONAL_PEERS = [
  ...Object.keys(
    (
      JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
        peerDependenciesMeta: object;
      }
    ).peerDependenciesMeta,
  ),
  'cache-manager',
  'cache-manager-ioredis-yet',
];
const hidden = (path: string) =>
  OPTIONAL_PEERS.some((peer) => {
    const parts = peer.split('/');
    return (
      path.includes(join('node_modules', ...parts) + sep) ||
      path.endsWith(join('node_modules', ...parts)) ||
      path.includes(join('node_modules', '@types', ...parts))
    );
  });

const APP_SOURCE = `
import { Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  findImageResizeModule,
  ImageResizeRecorder,
  ImageResizeTestingModule,
  type ImageResizeTestingOptions,
  type RecordedResize,
} from 'nestjs-image-resize/testing';

@Module({})
class AppModule {}

const options: ImageResizeTestingOptions = {
  fixtures: { 'https://cdn.example.com/a.png': Buffer.alloc(1), 'https://cdn.example.com/b.png': 'b.png' },
  ttl: 60,
  allowRedraw: (request) => request.query?.redraw === '1',
  encoders: { avif: { effort: 2 } },
};

export async function resizes(): Promise<readonly RecordedResize[]> {
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
    .overrideModule(findImageResizeModule(AppModule))
    .useModule(ImageResizeTestingModule.forRoot(options))
    .compile();
  const first: RecordedResize | undefined = moduleRef.get(ImageResizeRecorder).resizes[0];
  return first ? [first] : [];
}
`;

/** The library's declarations, as `npm run build:lib` would emit them into the package's dist/. */
function emitDeclarations(): Map<string, string> {
  const config = ts.getParsedCommandLineOfConfigFile(join(LIB, 'tsconfig.lib.json'), undefined, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
    },
  });
  if (!config) throw new Error('cannot read tsconfig.lib.json');
  const options: ts.CompilerOptions = {
    ...config.options,
    outDir: join(PACKAGE, 'dist'),
    declaration: true,
    emitDeclarationOnly: true,
    noEmit: false,
    sourceMap: false,
    declarationMap: false,
  };
  const program = ts.createProgram([join(LIB, 'src', 'testing', 'index.ts')], options);
  const files = new Map<string, string>();
  const { diagnostics, emitSkipped } = program.emit(undefined, (fileName, text) =>
    files.set(join(fileName), text),
  );
  if (emitSkipped) throw new Error(format(diagnostics));
  return files;
}

/** Type-checks {@link APP_SOURCE} against `files`; returns the diagnostics. */
function compileApp(files: Map<string, string>, resolution: 'node10' | 'node16', source = APP_SOURCE) {
  const virtual = new Map(files);
  virtual.set(join(PACKAGE, 'package.json'), readFileSync(join(LIB, 'package.json'), 'utf8'));
  virtual.set(APP, source);
  const options: ts.CompilerOptions = {
    strict: true,
    skipLibCheck: false,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: resolution === 'node16' ? ts.ModuleKind.Node16 : ts.ModuleKind.CommonJS,
    moduleResolution:
      resolution === 'node16' ? ts.ModuleResolutionKind.Node16 : ts.ModuleResolutionKind.Node10,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    types: ['node'],
    typeRoots: [join(ROOT, 'node_modules', '@types')],
  };
  const host = ts.createCompilerHost(options);
  const inVirtualDir = (dir: string) => [...virtual.keys()].some((file) => file.startsWith(dir + sep));
  host.fileExists = (file) => virtual.has(file) || (!hidden(file) && ts.sys.fileExists(file));
  host.readFile = (file) => virtual.get(file) ?? (hidden(file) ? undefined : ts.sys.readFile(file));
  host.directoryExists = (dir) => inVirtualDir(dir) || (!hidden(dir) && ts.sys.directoryExists(dir));
  host.realpath = (path) => path;
  host.getSourceFile = (file, languageVersion) => {
    const text = host.readFile(file);
    return text === undefined ? undefined : ts.createSourceFile(file, text, languageVersion, true);
  };
  const program = ts.createProgram([APP], options, host);
  const checked = program.getSourceFiles().map((file) => file.fileName);
  return { diagnostics: ts.getPreEmitDiagnostics(program), checked };
}

function format(diagnostics: readonly ts.Diagnostic[]): string {
  return ts.formatDiagnostics(diagnostics, {
    getCanonicalFileName: (name) => name,
    getCurrentDirectory: () => ROOT,
    getNewLine: () => '\n',
  });
}

describe('declarations of nestjs-image-resize/testing', () => {
  let files: Map<string, string>;

  beforeAll(() => {
    files = emitDeclarations();
  });

  it.each(['node10', 'node16'] as const)(
    'compile in a strict app without the optional peers (moduleResolution %s)',
    (resolution) => {
      const { diagnostics, checked } = compileApp(files, resolution);
      expect(format(diagnostics)).toBe('');
      expect(checked).toContain(join(PACKAGE, 'dist', 'testing', 'index.d.ts'));
      expect(checked.filter(hidden)).toEqual([]);
    },
  );

  it('hides the optional peers from that app (the check above would see an import of one)', () => {
    const { diagnostics } = compileApp(
      files,
      'node10',
      "import type { Redis } from 'ioredis';\nexport type R = Redis;\n",
    );
    expect(format(diagnostics)).toMatch(/Cannot find module 'ioredis'/);
  });
});
