#!/usr/bin/env node
// Presents the npm `solc` package (solcjs, the real compiler built to wasm) with the
// command-line surface of a native solc binary, so that py-solc-x and Brownie can drive it:
//
//   solc --version
//   solc --standard-json [--base-path DIR] [--include-path DIR]... [--allow-paths A,B] < input.json
//
// Imports that the input does not carry are read from disk: first under --base-path, then under
// each --include-path and --allow-paths entry. Only the compiler's JSON goes to stdout.
'use strict';

const fs = require('fs');
const path = require('path');

function loadCompiler() {
  const here = path.resolve(__dirname, '..');
  const candidates = [path.join(here, 'node_modules', 'solc'), 'solc'];
  for (const candidate of candidates) {
    try {
      return require(candidate);
    } catch (err) {
      if (err.code !== 'MODULE_NOT_FOUND') throw err;
    }
  }
  process.stderr.write('solc-shim: the npm package "solc" is not installed (run npm ci)\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { version: false, standardJson: false, basePath: null, includePaths: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const [flag, inline] = arg.includes('=') ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = () => (inline !== undefined ? inline : argv[++i]);
    switch (flag) {
      case '--version':
        opts.version = true;
        break;
      case '--standard-json':
        opts.standardJson = true;
        break;
      case '--base-path':
        opts.basePath = value();
        break;
      case '--include-path':
        opts.includePaths.push(value());
        break;
      case '--allow-paths':
        opts.includePaths.push(...value().split(',').filter(Boolean));
        break;
      case '-':
        break;
      default:
        process.stderr.write(`solc-shim: unsupported option ${arg}\n`);
        process.exit(2);
    }
  }
  return opts;
}

function makeImportReader(basePath, includePaths) {
  const roots = [basePath || process.cwd(), ...includePaths].map((p) => path.resolve(p));
  return (importPath) => {
    const tried = [];
    for (const root of roots) {
      const candidate = path.isAbsolute(importPath) ? importPath : path.join(root, importPath);
      tried.push(candidate);
      if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) {
        return { contents: fs.readFileSync(candidate, 'utf8') };
      }
    }
    return { error: `File not found: ${importPath} (looked in ${tried.join(', ')})` };
  };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const solc = loadCompiler();
  if (opts.version) {
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return;
  }
  if (!opts.standardJson) {
    process.stderr.write('solc-shim: only --version and --standard-json are supported\n');
    process.exit(2);
  }
  const input = fs.readFileSync(0, 'utf8');
  const output = solc.compile(input, { import: makeImportReader(opts.basePath, opts.includePaths) });
  process.stdout.write(output);
}

main();
