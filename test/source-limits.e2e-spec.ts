import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Controller, Get, type INestApplication, Param, Query } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  IMAGE_PROCESSOR,
  IMAGE_SOURCE_LOADER,
  type ImageResizeModuleOptions,
  ImageResizeModule,
  ImageResizeService,
  InvalidImageError,
  OverloadedError,
  ResizedImage,
  UpstreamTimeoutError,
} from 'nestjs-image-resize';
import { transparentPng } from './support/fixtures';
import { type Fifo, makeFifo, neverEndingStream } from './support/bombs/sources';

const FETCH_TIMEOUT_MS = 400;
/** The longest a test waits for an answer: far past the deadline, far short of "hung". */
const WAIT_MS = 8000;

let logo: Buffer;
/** Streams the stream route handed out, in order. */
const streams: Readable[] = [];

@Controller()
class SourcesController {
  @Get('stream/:key')
  @ResizedImage({ width: 32, height: 32 })
  stream(@Param('key') key: string, @Query('kind') kind: string) {
    let stream: Readable;
    if (kind === 'silent') stream = neverEndingStream({ chunk: 0 });
    else if (kind === 'endless') stream = neverEndingStream();
    else stream = Readable.from([logo]);
    streams.push(stream);
    return { stream, cacheKey: key };
  }

  @Get('file')
  @ResizedImage({ width: 32, height: 32 })
  file(@Query('path') path: string, @Query('key') key?: string) {
    return key ? { path, cacheKey: key } : { path };
  }
}

interface Answer {
  status: number;
  body: string;
}

/** GET `path`: status and body, or `'no answer'` when nothing came back within {@link WAIT_MS}. */
function answerOf(app: INestApplication, path: string): Promise<Answer | 'no answer'> {
  const { port } = app.getHttpServer().address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, signal: AbortSignal.timeout(WAIT_MS), agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('latin1') }),
        );
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) =>
      error.name === 'AbortError' ? resolve('no answer') : reject(error),
    );
    req.end();
  });
}

async function startApp(options: ImageResizeModuleOptions = {}): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [ImageResizeModule.forRoot({ fetchTimeoutMs: FETCH_TIMEOUT_MS, ...options })],
    controllers: [SourcesController],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  return app;
}

const fileQuery = (path: string, key?: string) =>
  `/file?path=${encodeURIComponent(path)}${key ? `&key=${key}` : ''}`;

let dir: string;
let fifo: Fifo;

beforeAll(async () => {
  logo = await transparentPng();
  dir = await mkdtemp(join(tmpdir(), 'image-sources-'));
  await mkdir(join(dir, 'root', 'logos'), { recursive: true });
  await mkdir(join(dir, 'outside'));
  await writeFile(join(dir, 'root', 'logos', 'logo.png'), logo);
  await writeFile(join(dir, 'outside', 'secret.png'), logo);
  await symlink(join(dir, 'outside', 'secret.png'), join(dir, 'root', 'link-out.png'));
  await symlink(join(dir, 'outside'), join(dir, 'root', 'dir-out'));
  await symlink(join(dir, 'root', 'logos', 'logo.png'), join(dir, 'root', 'link-in.png'));
  await symlink(join(dir, 'root'), join(dir, 'alias-of-root'));
  await symlink(join(dir, 'root', 'loop-b'), join(dir, 'root', 'loop-a'));
  await symlink(join(dir, 'root', 'loop-a'), join(dir, 'root', 'loop-b'));
  fifo = makeFifo(join(dir, 'root'));
  await writeFile(join(dir, 'root', 'unreadable.png'), logo, { mode: 0o000 });
});

afterAll(async () => {
  // A reader blocked in open() on the FIFO would keep a thread of the pool (and jest) forever.
  fifo.unblock();
  for (const stream of streams) stream.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe('deadline of stream sources (fetchTimeoutMs)', () => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await startApp();
  });
  afterAll(async () => app.close());

  it.each(['endless', 'silent'])(
    'answers a stream that is %s with 504 at the deadline, destroys it, and frees its cacheKey',
    async (kind) => {
      const key = `never_${kind}`;
      const first = answerOf(app, `/stream/${key}?kind=${kind}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const second = answerOf(app, `/stream/${key}?kind=${kind}`); // shares the first's miss
      const answers = await Promise.all([first, second]);
      expect(answers.map((answer) => (answer === 'no answer' ? answer : answer.status))).toEqual([504, 504]);
      expect(streams.filter((stream) => !stream.destroyed)).toEqual([]);
      // A later request of the same cacheKey is not stuck behind the stalled one.
      const later = await answerOf(app, `/stream/${key}?kind=good`);
      expect(later !== 'no answer' && later.status).toBe(200);
      expect((await app.get(ImageResizeService).health()).inFlight).toBe(0);
      expect((await app.get(ImageResizeService).health()).sourceBytesInFlight).toBe(0);
    },
  );
});

describe('deadline of a custom loader that never answers', () => {
  it('rejects the miss with 504 at fetchTimeoutMs and frees its cacheKey', async () => {
    let loads = 0;
    const moduleRef = await Test.createTestingModule({
      imports: [ImageResizeModule.forRoot({ fetchTimeoutMs: FETCH_TIMEOUT_MS })],
    })
      .overrideProvider(IMAGE_SOURCE_LOADER)
      .useValue({
        load: () => {
          loads += 1;
          return loads === 1 ? new Promise(() => undefined) : Promise.resolve({ body: logo });
        },
      })
      .compile();
    const service = moduleRef.get(ImageResizeService);
    try {
      const source = { url: 'https://cdn.example.com/logo.png', cacheKey: 'stalled' };
      const spec = { width: 16, height: 16 };
      const stalled = service.resize(source, spec).catch((error: unknown) => error);
      const waiting = service.resize(source, spec).catch((error: unknown) => error);
      expect(await stalled).toBeInstanceOf(UpstreamTimeoutError);
      expect(await waiting).toBeInstanceOf(UpstreamTimeoutError);
      expect((await service.resize(source, spec)).cacheStatus).toBe('MISS');
    } finally {
      await moduleRef.close();
    }
  });
});

describe('the admission budget in the service (maxSourceBytesInFlight)', () => {
  it('holds a source until its resize has ended, counts no Buffer, and gives the bytes back on every path', async () => {
    const gates: Array<() => void> = [];
    const moduleRef = await Test.createTestingModule({
      imports: [ImageResizeModule.forRoot({ maxSourceBytes: 1000, maxSourceBytesInFlight: 1500 })],
    })
      .overrideProvider(IMAGE_PROCESSOR)
      .useValue({
        process: async (input: Buffer) => {
          await new Promise<void>((resolve) => gates.push(resolve));
          if (input[0] === 0xee) throw new InvalidImageError();
          return { body: Buffer.from('img'), contentType: 'image/png', width: 1, height: 1, format: 'png' };
        },
      })
      .compile();
    const service = moduleRef.get(ImageResizeService);
    const inFlight = async () => (await service.health()).sourceBytesInFlight;
    const file = join(dir, 'root', 'bytes-800.bin');
    await writeFile(file, Buffer.alloc(800, 1));
    const spec = { width: 8, height: 8 };
    const whenProcessing = async (count: number) => {
      while (gates.length < count) await new Promise((resolve) => setTimeout(resolve, 5));
    };
    try {
      // Held while it is resized; a second source that does not fit is refused before it is read.
      const first = service.resize({ path: file, cacheKey: 'held_a' }, spec);
      await whenProcessing(1);
      expect(await inFlight()).toBe(800);
      await expect(service.resize({ path: file, cacheKey: 'held_b' }, spec)).rejects.toThrow(OverloadedError);
      // A Buffer is already in memory: it is not counted, and not refused.
      const buffered = service.resize({ buffer: Buffer.alloc(900, 1), cacheKey: 'held_c' }, spec);
      await whenProcessing(2);
      expect(await inFlight()).toBe(800);
      gates.splice(0).forEach((open) => open());
      await Promise.all([first, buffered]);
      expect(await inFlight()).toBe(0);
      // A stream named by its content is read before the lookup; a hit gives its bytes back.
      const streamed = service.resize(Readable.from([Buffer.alloc(500, 2)]), spec);
      await whenProcessing(1);
      expect(await inFlight()).toBe(500);
      gates.splice(0).forEach((open) => open());
      expect((await streamed).cacheStatus).toBe('MISS');
      expect((await service.resize(Readable.from([Buffer.alloc(500, 2)]), spec)).cacheStatus).toBe('HIT');
      expect(await inFlight()).toBe(0);
      // A failed resize gives its bytes back too.
      const failing = service.resize(Readable.from([Buffer.alloc(300, 0xee)]), spec).catch((e: unknown) => e);
      await whenProcessing(1);
      gates.splice(0).forEach((open) => open());
      expect(await failing).toBeInstanceOf(InvalidImageError);
      expect(await inFlight()).toBe(0);
    } finally {
      gates.forEach((open) => open());
      await moduleRef.close();
    }
  });
});

describe('path sources that are not readable regular files get one answer', () => {
  const inRoot = (...parts: string[]) => join(dir, 'root', ...parts);
  const cases: Array<[string, () => string]> = [
    ['a directory', () => inRoot('logos')],
    ['a FIFO (would block a reader forever)', () => inRoot('pipe.png')],
    ['a symbolic link loop', () => inRoot('loop-a')],
    ['a path through a file', () => inRoot('logos', 'logo.png', 'x.png')],
    // Root reads a file of mode 000: only another user can see it as unreadable.
    ...(process.getuid?.() === 0
      ? []
      : ([['a file without read permission', () => inRoot('unreadable.png')]] as Array<
          [string, () => string]
        >)),
  ];

  describe.each([
    // Without fileRoot, a device is one more path that is not a regular file.
    ['without fileRoot', {}, [...cases, ['a character device (endless)', () => '/dev/zero']]],
    ['with fileRoot', { root: true }, cases],
  ] as Array<[string, { root?: boolean }, typeof cases]>)('%s', (_name, { root }, table) => {
    let app: INestApplication;
    let missing: Answer;
    beforeAll(async () => {
      app = await startApp(root ? { sources: { fileRoot: inRoot() } } : {});
      const answer = await answerOf(app, fileQuery(inRoot('missing.png')));
      if (answer === 'no answer') throw new Error('no answer for a missing file');
      missing = answer;
    });
    afterAll(async () => app.close());

    it('answers a missing file with 404, naming no path', () => {
      expect(missing.status).toBe(404);
      expect(missing.body).not.toContain(dir);
    });

    it('serves a regular file', async () => {
      const answer = await answerOf(app, fileQuery(inRoot('logos', 'logo.png')));
      expect(answer !== 'no answer' && answer.status).toBe(200);
    });

    it.each(table)(
      'answers %s exactly as a missing file, promptly, with or without a cacheKey',
      async (_case, path) => {
        for (const key of [undefined, 'given_key']) {
          expect(await answerOf(app, fileQuery(path(), key))).toEqual(missing);
        }
      },
    );
  });
});

describe('sources.fileRoot', () => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await startApp({ sources: { fileRoot: join(dir, 'root') } });
  });
  afterAll(async () => app.close());

  const statusOf = async (path: string, key?: string) => {
    const answer = await answerOf(app, fileQuery(path, key));
    return answer === 'no answer' ? answer : answer.status;
  };

  it.each([
    ['a file inside', () => join(dir, 'root', 'logos', 'logo.png')],
    ['a link inside to a file inside', () => join(dir, 'root', 'link-in.png')],
    ['a path through a link to the root itself', () => join(dir, 'alias-of-root', 'logos', 'logo.png')],
  ])('serves %s', async (_name, path) => {
    expect(await statusOf(path())).toBe(200);
    expect(await statusOf(path(), 'inside_key')).toBe(200);
  });

  it.each([
    ['a ../ escape', () => join(dir, 'root', 'logos') + '/../../outside/secret.png'],
    ['an absolute path outside', () => join(dir, 'outside', 'secret.png')],
    ['a missing file outside', () => join(dir, 'outside', 'missing.png')],
    ['a device outside', () => '/dev/zero'],
    ['a link inside to a file outside', () => join(dir, 'root', 'link-out.png')],
    ['a file under a link inside to a folder outside', () => join(dir, 'root', 'dir-out', 'secret.png')],
    ['a missing file under a link to a folder outside', () => join(dir, 'root', 'dir-out', 'nope.png')],
  ])('refuses %s with 403, with or without a cacheKey', async (_name, path) => {
    expect(await statusOf(path())).toBe(403);
    expect(await statusOf(path(), 'outside_key')).toBe(403);
  });
});
