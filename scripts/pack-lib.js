#!/usr/bin/env node
// Builds the library and packs it into nestjs-image-resize-<version>.tgz at the repository root.
// The tarball's absolute path is printed as the last line.
const { execFileSync } = require('node:child_process');
const { copyFileSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const libDir = join(root, 'libs', 'image-resize');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

execFileSync(npm, ['run', 'build:lib'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
// The package carries the repository's README as its own.
copyFileSync(join(root, 'README.md'), join(libDir, 'README.md'));
const output = execFileSync(npm, ['pack', '--json', '--pack-destination', root], {
  cwd: libDir,
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'inherit'],
});
const [packed] = JSON.parse(output);
console.log(`packed ${packed.files.length} files, ${packed.size} bytes`);
console.log(join(root, packed.filename));
