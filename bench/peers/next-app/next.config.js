const path = require('node:path');

const peersDir = path.join(__dirname, '..');

/**
 * Next.js 16 rejects (400) a quality missing from `images.qualities` and a width
 * missing from `deviceSizes`/`imageSizes`. The build output goes under
 * node_modules so the repository's linters and git never see it, and a fresh
 * `npm ci` forces a rebuild.
 * @type {import('next').NextConfig}
 */
module.exports = {
  distDir: path.relative(__dirname, path.join(peersDir, 'node_modules', '.cache', 'next-app')),
  turbopack: { root: peersDir },
  poweredByHeader: false,
  images: {
    deviceSizes: [640, 750, 828, 1080, 1200, 1920, 2048, 3840],
    imageSizes: [32, 48, 64, 96, 128, 256, 384],
    qualities: [50, 75, 80, 90, 100],
    localPatterns: [{ pathname: '/**', search: '' }],
    formats: ['image/webp'],
  },
};
