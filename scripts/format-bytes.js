#!/usr/bin/env node
// Prints the output bytes per format of the example app's logos in a 256x256 box (fit inside).
// Run after `npm run build`: node scripts/format-bytes.js
const { join } = require('node:path');
const { OriginalsService } = require(join(__dirname, '..', 'dist', 'originals', 'originals.service'));
// Internals of the library, from its build (libs/image-resize/dist): the package exports none of them.
const lib = join(__dirname, '..', 'libs', 'image-resize', 'dist');
const { SharpImageProcessor } = require(join(lib, 'processors', 'sharp-image.processor'));
const { resolveImageResizeOptions } = require(join(lib, 'options', 'image-resize.options'));
const { resolveResizeSpec } = require(join(lib, 'spec', 'resize-spec.resolver'));

const SPECS = [
  ['PNG', { format: 'png' }],
  ['PNG palette', { format: 'png', palette: true }],
  ['JPEG q80', { format: 'jpeg' }],
  ['WebP q80', { format: 'webp' }],
  ['AVIF q50', { format: 'avif' }],
];

(async () => {
  const originals = new OriginalsService();
  await originals.onModuleInit();
  const options = resolveImageResizeOptions({});
  const processor = new SharpImageProcessor(options);
  console.log(`| logo (original bytes) | ${SPECS.map(([name]) => name).join(' | ')} |`);
  console.log(`|---|${SPECS.map(() => '---').join('|')}|`);
  for (const name of ['aurora.png', 'basalt.jpg', 'cobalt.png']) {
    const input = originals.get(name).body;
    const sizes = [];
    for (const [, spec] of SPECS) {
      const out = await processor.process(
        input,
        resolveResizeSpec({ width: 256, height: 256, ...spec }, options),
      );
      sizes.push(out.body.length);
    }
    console.log(`| ${name} (${input.length}) | ${sizes.join(' | ')} |`);
  }
})();
