#!/usr/bin/env node
// Checks that docs/API.md lists exactly what each entry point of the package exports, as recorded in
// the API reports (libs/image-resize/api/*.api.md, kept equal to the build by `npm run api:check`).
// Silent when they agree; otherwise prints each difference and exits 1. Run by `npm run lint`.
//
//   node scripts/check-api-docs.js [--docs docs/API.md] [--reports libs/image-resize/api]
//
// docs/API.md: a `## \`nestjs-image-resize/<subpath>\`` heading starts the section of that subpath
// entry; every other section is about the root entry. The names documented are those in backticks in
// the first column of the tables (`ResizedImage(spec)` documents `ResizedImage`).
const { readdirSync, readFileSync } = require('node:fs');
const { join, relative } = require('node:path');
const { reportExports } = require('./api-report.js');

const root = join(__dirname, '..');
const PACKAGE = 'nestjs-image-resize';

/** Entry point (`nestjs-image-resize`, `nestjs-image-resize/testing`...) -> names documented for it. */
function documentedNames(markdown) {
  const entries = new Map([[PACKAGE, new Set()]]);
  let entry = PACKAGE;
  let fence;
  for (const line of markdown.split('\n')) {
    const marker = /^\s*(```|~~~)/.exec(line);
    if (marker) {
      if (!fence) fence = marker[1];
      else if (marker[1] === fence) fence = undefined;
      continue;
    }
    if (fence) continue;
    const heading = /^##\s+(.*)$/.exec(line);
    if (heading) {
      const subpath = new RegExp(`^\`${PACKAGE}/([\\w-]+)\`\\s*$`).exec(heading[1].trim());
      entry = subpath ? `${PACKAGE}/${subpath[1]}` : PACKAGE;
      if (!entries.has(entry)) entries.set(entry, new Set());
      continue;
    }
    if (!/^\s*\|/.test(line) || /^\s*\|\s*:?-+/.test(line)) continue;
    const firstCell = line.replace(/\\\|/g, '').split('|')[1] ?? '';
    for (const span of firstCell.matchAll(/`([^`]+)`/g)) {
      const name = /^[A-Za-z_$][\w$]*/.exec(span[1].trim());
      if (name) entries.get(entry).add(name[0]);
    }
  }
  return entries;
}

/** Entry point -> names exported, from the API reports in `dir` (`nestjs-image-resize[-<subpath>].api.md`). */
function reportedNames(dir) {
  const entries = new Map();
  for (const file of readdirSync(dir).sort()) {
    const match = new RegExp(`^${PACKAGE}(?:-([\\w-]+))?\\.api\\.md$`).exec(file);
    if (!match) continue;
    entries.set(
      match[1] ? `${PACKAGE}/${match[1]}` : PACKAGE,
      reportExports(readFileSync(join(dir, file), 'utf8')),
    );
  }
  return entries;
}

/** The differences between what is documented and what is exported, one line each; empty when none. */
function compareApiDocs(documented, exported) {
  const problems = [];
  for (const entry of new Set([...exported.keys(), ...documented.keys()])) {
    const names = exported.get(entry) ?? new Set();
    const listed = documented.get(entry) ?? new Set();
    for (const name of [...names].sort()) {
      if (!listed.has(name)) problems.push(`${entry} exports ${name}, which docs/API.md does not list`);
    }
    for (const name of [...listed].sort()) {
      if (!names.has(name))
        problems.push(`docs/API.md lists ${name} under ${entry}, which does not export it`);
    }
  }
  return problems;
}

function main(argv) {
  const option = (name, fallback) => {
    const index = argv.indexOf(name);
    return index >= 0 && argv[index + 1] ? argv[index + 1] : fallback;
  };
  const docs = option('--docs', join(root, 'docs', 'API.md'));
  const reports = option('--reports', join(root, 'libs', 'image-resize', 'api'));
  const exported = reportedNames(reports);
  if (!exported.has(PACKAGE)) {
    console.error(
      `No API report of ${PACKAGE} in ${relative(root, reports) || reports}: run npm run api:update`,
    );
    return 1;
  }
  const problems = compareApiDocs(documentedNames(readFileSync(docs, 'utf8')), exported);
  if (problems.length === 0) return 0;
  console.error(problems.join('\n'));
  console.error(
    `\n${relative(root, docs) || docs} must list exactly the exports recorded in ${relative(root, reports) || reports}/*.api.md.`,
  );
  return 1;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));

module.exports = { documentedNames, reportedNames, compareApiDocs, main };
