#!/usr/bin/env node
// Builds the library and packs it into nestjs-image-resize-<version>.tgz at the repository root.
// The tarball's absolute path is printed as the last line.
const { execFileSync } = require('node:child_process');
const { readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const libDir = join(root, 'libs', 'image-resize');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/**
 * Links of a Markdown text that only work inside the repository: relative targets of inline links and
 * images (`[x](docs/API.md)`, `![x](bench/a.svg)`), of reference definitions (`[x]: CHANGELOG.md`) and
 * of HTML `href`/`src`. Absolute URLs (`https:`, `mailto:` ...) and in-page anchors (`#caching`) are
 * fine; fenced code blocks and inline code are skipped. Returns `line: target` for each.
 */
function relativeLinks(markdown) {
  const found = [];
  let fence;
  markdown.split('\n').forEach((line, index) => {
    const marker = /^\s*(```|~~~)/.exec(line);
    if (marker) {
      if (!fence) fence = marker[1];
      else if (marker[1] === fence) fence = undefined;
      return;
    }
    if (fence) return;
    const text = line.replace(/`[^`]*`/g, '');
    const targets = [
      ...[...text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)/g)].map((match) => match[1]),
      ...[...text.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(\s|$)/g)].map((match) => match[1]),
      ...[...text.matchAll(/\b(?:href|src)\s*=\s*["']([^"']+)["']/gi)].map((match) => match[1]),
    ];
    for (const target of targets) {
      if (!/^([a-z][a-z0-9+.-]*:|#)/i.test(target)) found.push(`${index + 1}: ${target}`);
    }
  });
  return found;
}

/**
 * The README as the package shows it: without the parts between `<!-- repository-only ... -->` and
 * `<!-- /repository-only -->` (how to run the example app and the tests of this repository).
 */
function packageReadme(markdown) {
  const opened = (markdown.match(/<!-- repository-only\b/g) ?? []).length;
  const closed = (markdown.match(/<!-- \/repository-only -->/g) ?? []).length;
  if (opened !== closed)
    throw new Error(`README.md: ${opened} repository-only parts opened, ${closed} closed`);
  return markdown.replace(/<!-- repository-only\b[^]*?<!-- \/repository-only -->\n*/g, '');
}

function main() {
  execFileSync(npm, ['run', 'build:lib'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  // The package carries the repository's README as its own, less what is about the repository.
  const readme = join(libDir, 'README.md');
  writeFileSync(readme, packageReadme(readFileSync(join(root, 'README.md'), 'utf8')));
  // On npmjs.com and in node_modules there is no repository around the README: a relative link breaks.
  const broken = relativeLinks(readFileSync(readme, 'utf8'));
  if (broken.length > 0) {
    console.error(
      `README.md has links relative to the repository, which break in the package; make them absolute or plain text:\n  ${broken.join('\n  ')}`,
    );
    process.exit(1);
  }
  const output = execFileSync(npm, ['pack', '--json', '--pack-destination', root], {
    cwd: libDir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [packed] = JSON.parse(output);
  console.log(`packed ${packed.files.length} files, ${packed.size} bytes`);
  console.log(join(root, packed.filename));
}

if (require.main === module) main();

module.exports = { relativeLinks, packageReadme };
