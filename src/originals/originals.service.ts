import { Injectable, type OnModuleInit } from '@nestjs/common';
import sharp from 'sharp';

/** An original logo as the example app serves it. */
export interface OriginalFile {
  body: Buffer;
  contentType: string;
}

const AURORA_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="1200" viewBox="0 0 1200 1200">
  <defs>
    <linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#22d3ee"/><stop offset=".5" stop-color="#a78bfa"/><stop offset="1" stop-color="#f472b6"/>
    </linearGradient>
  </defs>
  <circle cx="600" cy="600" r="520" fill="url(#g)"/>
  <path d="M250 760 C 420 420, 780 420, 950 760" stroke="#ffffff" stroke-width="70" fill="none" stroke-linecap="round"/>
  <circle cx="600" cy="420" r="90" fill="#ffffff" fill-opacity=".85"/>
</svg>`;

const BASALT_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="800" height="500" viewBox="0 0 800 500">
  <rect width="800" height="500" fill="#1f2937"/>
  <polygon points="400,60 640,200 640,380 400,460 160,380 160,200" fill="#f59e0b"/>
  <polygon points="400,150 540,230 540,340 400,390 260,340 260,230" fill="#111827"/>
</svg>`;

const COBALT_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96">
  <rect x="8" y="8" width="80" height="80" rx="18" fill="#1d4ed8"/>
  <rect x="30" y="30" width="36" height="36" rx="6" fill="#bfdbfe"/>
</svg>`;

/**
 * The original logos of the example catalogue, drawn at start-up. In a real app they would live in
 * object storage or on another site; here the app serves them itself under `/originals/`.
 */
@Injectable()
export class OriginalsService implements OnModuleInit {
  private readonly files = new Map<string, OriginalFile>();

  async onModuleInit(): Promise<void> {
    const draw = (svg: string) => sharp(Buffer.from(svg));
    this.files.set('aurora.png', {
      body: await draw(AURORA_SVG).png().toBuffer(),
      contentType: 'image/png',
    });
    this.files.set('basalt.jpg', {
      body: await draw(BASALT_SVG).jpeg({ quality: 90 }).toBuffer(),
      contentType: 'image/jpeg',
    });
    this.files.set('cobalt.png', {
      body: await draw(COBALT_SVG).png().toBuffer(),
      contentType: 'image/png',
    });
  }

  get(name: string): OriginalFile | undefined {
    return this.files.get(name);
  }
}
