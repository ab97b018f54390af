/**
 * The origin of the fleet section (bench/lib/fleet.ts): serves distinct small logos and counts the
 * requests for each. Started by bench/run.ts as a process of its own. Configured by the environment:
 *
 * - `PORT`: where it listens (127.0.0.1)
 *
 * `GET /<tag>/logo/<n>.png`: logo number `n` (any integer), a 160x160 PNG of a few KB, the same bytes
 * for the same `n` on every run, different for every `n`; made on its first request and kept.
 * `GET /counts`: `{ "<tag>/<n>": requests }` since the start; `GET /repeats`: for the logos asked for
 * more than once, when (ms since the start).
 */
import { createServer } from 'node:http';
import sharp from 'sharp';

const SIZE = 160;
const made = new Map<number, Promise<Buffer>>();
const counts: Record<string, number> = {};
/** When each logo was asked for (ms since the start), for the logos asked for more than once. */
const times = new Map<string, number[]>();

/** Logo `n`: a hue, a shape and a ring that differ with `n` (1000 logos all differ), over a gradient. */
function svgOf(n: number): string {
  const hue = (n * 137.508) % 360;
  const sides = 3 + (n % 5);
  const turn = (n % 7) * 9;
  const points = Array.from({ length: sides }, (_, i) => {
    const angle = ((i / sides) * 360 + turn) * (Math.PI / 180);
    return `${(80 + 46 * Math.cos(angle)).toFixed(1)},${(80 + 46 * Math.sin(angle)).toFixed(1)}`;
  }).join(' ');
  const ring = 8 + (Math.floor(n / 35) % 10);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}">
  <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
    <stop offset="0" stop-color="hsl(${hue.toFixed(1)},70%,55%)"/>
    <stop offset="1" stop-color="hsl(${((hue + 60) % 360).toFixed(1)},70%,35%)"/>
  </linearGradient></defs>
  <circle cx="80" cy="80" r="${74 - ring / 2}" fill="url(#g)" stroke="hsl(${((hue + 180) % 360).toFixed(1)},60%,50%)" stroke-width="${ring}"/>
  <polygon points="${points}" fill="#fff" fill-opacity=".85"/>
</svg>`;
}

function logo(n: number): Promise<Buffer> {
  let bytes = made.get(n);
  if (!bytes) {
    bytes = sharp(Buffer.from(svgOf(n)))
      .png()
      .toBuffer();
    made.set(n, bytes);
  }
  return bytes;
}

const server = createServer((req, res) => {
  const url = req.url ?? '/';
  if (url === '/counts' || url === '/repeats') {
    const repeats = Object.fromEntries([...times].filter(([, at]) => at.length > 1));
    res
      .writeHead(200, { 'Content-Type': 'application/json' })
      .end(JSON.stringify(url === '/counts' ? counts : repeats));
    return;
  }
  const match = /^\/([\w-]+)\/logo\/(\d+)\.png$/.exec(url);
  if (!match) {
    res.writeHead(404).end();
    return;
  }
  const name = `${match[1]}/${match[2]}`;
  counts[name] = (counts[name] ?? 0) + 1;
  times.set(name, [...(times.get(name) ?? []), Math.round(performance.now())]);
  logo(Number(match[2])).then(
    (body) => res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': body.length }).end(body),
    () => res.writeHead(500).end(),
  );
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
