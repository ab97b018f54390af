#!/usr/bin/env node
// Runs API Extractor on the built declarations (libs/image-resize/dist, `npm run build:lib`) of each
// entry point of the package and compares its API report with the one committed under
// libs/image-resize/api/. Silent when every report is up to date; otherwise prints what differs and
// exits 1.
//
//   node scripts/api-report.js            check (CI, `npm run api:check`): fails when a report differs
//   node scripts/api-report.js --update   rewrite the reports (`npm run api:update`), then commit them
//
// An `ae-forgotten-export` (a public signature that names a type the entry point does not export)
// fails both, except:
// - in a subpath entry (terminus, prometheus, testing), a type that the root entry exports: users
//   import it from `nestjs-image-resize`;
// - the few listed in KNOWN_FORGOTTEN_EXPORTS below, each with its reason. The root entry's report
//   still shows their declarations, without `export` (`includeForgottenExports`), so that a change to
//   them shows there too; an entry that is no longer needed fails the check until it is removed.
//
// TSDoc syntax and `{@link}` resolution are not checked (tsdocMessageReporting, ae-unresolved-link in
// libs/image-resize/api-extractor/base.json): turn them on there once the comments are fixed.
const { existsSync, readFileSync } = require('node:fs');
const { join, relative } = require('node:path');

const root = join(__dirname, '..');
const configDir = join(root, 'libs', 'image-resize', 'api-extractor');

/** The entry points, root first: the subpath entries are checked against what the root exports. */
const ENTRIES = ['index', 'terminus', 'prometheus', 'testing'];

/**
 * Per entry: symbols that may stay unexported although a public signature names them, and why.
 * Keep this short; prefer exporting the type or not naming it in a public signature.
 */
const KNOWN_FORGOTTEN_EXPORTS = {
  index: {
    ConfigurableImageResizeModule:
      "ImageResizeModule's base class, made by Nest's ConfigurableModuleBuilder (it gives forRootAsync): plumbing, not for users to name",
    IMAGE_RESIZE_OPTIONS_TYPE:
      'ConfigurableModuleBuilder value whose type is ImageResizeModuleRootOptions (exported): the name itself is plumbing',
    IMAGE_RESIZE_ASYNC_OPTIONS_TYPE:
      'ConfigurableModuleBuilder value whose type is ImageResizeModuleAsyncOptions (exported): the name itself is plumbing',
  },
};

/** The names an API report (`*.api.md`) exports. */
function reportExports(report) {
  const names = new Set();
  const pattern =
    /^export (?:declare )?(?:abstract )?(?:class|interface|type|const|let|var|function|enum|namespace) ([A-Za-z_$][\w$]*)/gm;
  for (const match of report.matchAll(pattern)) names.add(match[1]);
  for (const match of report.matchAll(/^export \{([^}]*)\}/gm)) {
    for (const part of match[1].split(',')) {
      const name = part
        .trim()
        .split(/\s+as\s+/)
        .pop();
      if (name) names.add(name);
    }
  }
  return names;
}

/** The symbol an `ae-forgotten-export` message is about. */
function forgottenSymbol(text) {
  return /The symbol "([^"]+)"/.exec(text)?.[1];
}

function run({ update }) {
  const { Extractor, ExtractorConfig, ExtractorLogLevel } = require('@microsoft/api-extractor');
  const problems = [];
  const notes = [];
  let rootExports = new Set();

  for (const entry of ENTRIES) {
    const config = ExtractorConfig.loadFileAndPrepare(join(configDir, `${entry}.json`));
    if (!existsSync(config.mainEntryPointFilePath)) {
      problems.push(
        `${entry}: ${relative(root, config.mainEntryPointFilePath)} is missing: run npm run build:lib`,
      );
      continue;
    }
    const known = KNOWN_FORGOTTEN_EXPORTS[entry] ?? {};
    const unused = new Set(Object.keys(known));
    const messages = [];
    const result = Extractor.invoke(config, {
      localBuild: update,
      showVerboseMessages: false,
      printApiReportDiff: !update,
      messageCallback(message) {
        message.handled = true;
        if (message.messageId === 'ae-forgotten-export') {
          const symbol = forgottenSymbol(message.text);
          unused.delete(symbol);
          if (symbol in known || (entry !== 'index' && rootExports.has(symbol))) {
            message.logLevel = ExtractorLogLevel.None;
            return;
          }
        }
        if (message.logLevel === ExtractorLogLevel.Error || message.logLevel === ExtractorLogLevel.Warning) {
          messages.push(message);
        }
      },
    });
    const reportFiles = config.reportConfigs
      .map((report) => relative(root, join(config.reportFolder, report.fileName)))
      .join(', ');
    for (const message of messages) {
      switch (message.messageId) {
        case 'console-api-report-copied':
        case 'console-api-report-created':
          notes.push(`${entry}: updated ${reportFiles}`);
          break;
        case 'console-api-report-not-copied':
          problems.push(`${entry}: ${reportFiles} is missing or differs from the build`);
          break;
        default:
          problems.push(`${entry}: ${message.formatMessageWithLocation(`${root}/`)}`);
      }
    }
    if (!result.succeeded && messages.length === 0) problems.push(`${entry}: API Extractor failed`);
    for (const symbol of unused) {
      problems.push(
        `${entry}: ${symbol} is no longer a forgotten export: remove it from KNOWN_FORGOTTEN_EXPORTS in scripts/api-report.js`,
      );
    }
    if (entry === 'index') {
      const report =
        config.reportConfigs.find((report) => report.variant === 'complete') ?? config.reportConfigs[0];
      rootExports = reportExports(readFileSync(join(config.reportTempFolder, report.fileName), 'utf8'));
    }
  }

  for (const note of notes) console.log(note);
  if (problems.length > 0) {
    console.error(problems.join('\n\n'));
    console.error(
      update
        ? '\nAPI Extractor reported the problems above.'
        : '\nThe public API differs from libs/image-resize/api/*.api.md, or API Extractor reported a problem.' +
            '\nIf the change is intended: npm run api:update, then update docs/API.md and commit both.',
    );
    process.exitCode = 1;
  }
}

if (require.main === module) run({ update: process.argv.includes('--update') });

module.exports = { reportExports, forgottenSymbol, KNOWN_FORGOTTEN_EXPORTS };
