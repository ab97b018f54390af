import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { documentedNames, reportedNames, compareApiDocs, main } = require('./check-api-docs.js') as {
  documentedNames(markdown: string): Map<string, Set<string>>;
  reportedNames(dir: string): Map<string, Set<string>>;
  compareApiDocs(documented: Map<string, Set<string>>, exported: Map<string, Set<string>>): string[];
  main(argv: string[]): number;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { reportExports } = require('./api-report.js') as { reportExports(report: string): Set<string> };

const report = (body: string) =>
  ['## API Report File for "nestjs-image-resize"', '', '```ts', '', body, '', '```', ''].join('\n');

const ROOT_REPORT = report(
  [
    "import { DynamicModule } from '@nestjs/common';",
    '',
    '// @public',
    'export class ImageResizeModule extends ConfigurableImageResizeModule {',
    '    static forRoot(options?: ImageResizeModuleRootOptions): DynamicModule;',
    '}',
    '',
    '// @public',
    'export type ImageResizeModuleRootOptions = typeof IMAGE_RESIZE_OPTIONS_TYPE;',
    '',
    '// @public',
    'export const IMAGE_PROCESSOR: unique symbol;',
    '',
    '// @public',
    'export function ResizedImage(spec: ResizedImageOptions): MethodDecorator;',
    '',
    '// @public',
    'export interface ResizedImageOptions {',
    '    width?: number;',
    '}',
    '',
    '// A declaration the entry point does not export (includeForgottenExports): not public.',
    'const ConfigurableImageResizeModule: ConfigurableModuleCls<ImageResizeModuleOptions>;',
  ].join('\n'),
);

const TESTING_REPORT = report(['// @public', 'export type ImageFixture = Buffer | string;'].join('\n'));

const DOCS = [
  '# API reference',
  '',
  '## Module',
  '',
  '| export | kind | what it is |',
  '| --- | --- | --- |',
  '| `ImageResizeModule` | module | `forRoot(options)`; mentions `NotAnExport` outside the first column |',
  '| `ImageResizeModuleRootOptions` | type | what `forRoot` takes |',
  '| `ResizedImage(spec)` | decorator | a call documents the function |',
  '| `ResizedImageOptions`, `IMAGE_PROCESSOR` | type, token | two names in one row |',
  '',
  '```ts',
  '| `InACodeBlock` | not | a table row |',
  '```',
  '',
  '## `nestjs-image-resize/testing`',
  '',
  '| export | what it is |',
  '| --- | --- |',
  '| `ImageFixture` | a Buffer or a file path |',
  '',
].join('\n');

describe('reportExports (names an API report exports)', () => {
  it('reads every exported declaration, and not what the entry point leaves unexported', () => {
    expect([...reportExports(ROOT_REPORT)].sort()).toEqual([
      'IMAGE_PROCESSOR',
      'ImageResizeModule',
      'ImageResizeModuleRootOptions',
      'ResizedImage',
      'ResizedImageOptions',
    ]);
  });
});

describe('documentedNames (names docs/API.md lists)', () => {
  it('reads the first column of the tables, per entry point, outside code blocks', () => {
    const documented = documentedNames(DOCS);
    expect([...documented.keys()]).toEqual(['nestjs-image-resize', 'nestjs-image-resize/testing']);
    expect([...documented.get('nestjs-image-resize')!].sort()).toEqual([
      'IMAGE_PROCESSOR',
      'ImageResizeModule',
      'ImageResizeModuleRootOptions',
      'ResizedImage',
      'ResizedImageOptions',
    ]);
    expect([...documented.get('nestjs-image-resize/testing')!]).toEqual(['ImageFixture']);
  });
});

describe('compareApiDocs', () => {
  const exported = new Map([
    ['nestjs-image-resize', reportExports(ROOT_REPORT)],
    ['nestjs-image-resize/testing', reportExports(TESTING_REPORT)],
  ]);

  it('finds nothing when the docs list exactly the exports', () => {
    expect(compareApiDocs(documentedNames(DOCS), exported)).toEqual([]);
  });

  it('reports a name the docs still list after its export was removed', () => {
    const docs = DOCS.replace(
      '| `ImageResizeModuleRootOptions` |',
      '| `MemoryImageCache` | class | removed |\n| `ImageResizeModuleRootOptions` |',
    );
    expect(compareApiDocs(documentedNames(docs), exported)).toEqual([
      'docs/API.md lists MemoryImageCache under nestjs-image-resize, which does not export it',
    ]);
  });

  it('reports an export the docs do not list, in the entry point it belongs to', () => {
    const docs = DOCS.replace('| `ImageFixture` | a Buffer or a file path |\n', '');
    expect(compareApiDocs(documentedNames(docs), exported)).toEqual([
      'nestjs-image-resize/testing exports ImageFixture, which docs/API.md does not list',
    ]);
  });

  it('reports a name listed under the wrong entry point', () => {
    const docs = DOCS.replace('| `ImageFixture` |', '| `IMAGE_PROCESSOR` |');
    expect(compareApiDocs(documentedNames(docs), exported)).toEqual([
      'nestjs-image-resize/testing exports ImageFixture, which docs/API.md does not list',
      'docs/API.md lists IMAGE_PROCESSOR under nestjs-image-resize/testing, which does not export it',
    ]);
  });
});

describe('the check (node scripts/check-api-docs.js)', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'api-docs-'));
    writeFileSync(join(dir, 'nestjs-image-resize.api.md'), ROOT_REPORT);
    writeFileSync(join(dir, 'nestjs-image-resize-testing.api.md'), TESTING_REPORT);
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const check = (docs: string) => {
    writeFileSync(join(dir, 'API.md'), docs);
    return spawnSync(
      process.execPath,
      [join(__dirname, 'check-api-docs.js'), '--docs', join(dir, 'API.md'), '--reports', dir],
      {
        encoding: 'utf8',
      },
    );
  };

  it('passes silently when the docs match the reports', () => {
    const result = check(DOCS);
    expect(result.status).toBe(0);
    expect(result.stdout + result.stderr).toBe('');
  });

  it('fails, naming the difference, when they do not', () => {
    const result = check(
      DOCS.replace('| `ImageResizeModuleRootOptions` | type | what `forRoot` takes |\n', ''),
    );
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      'nestjs-image-resize exports ImageResizeModuleRootOptions, which docs/API.md does not list',
    );
  });

  it('reads the reports of every entry point from their file names', () => {
    expect([...reportedNames(dir).keys()].sort()).toEqual([
      'nestjs-image-resize',
      'nestjs-image-resize/testing',
    ]);
  });
});

describe("the repository's docs/API.md", () => {
  it('lists exactly the exports of the committed API reports', () => {
    expect(main([])).toBe(0);
  });
});
