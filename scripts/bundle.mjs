#!/usr/bin/env node
// Bundles the CLI and its dependencies (esbuild), so that a run reads a few files instead of hundreds
// of modules: on a slow disk, or the 9p root of the IPVS lab VM, start-up drops from ~11 s to ~5 s.
//   dist/bundle/   what bin/vip-mgmt runs: split into chunks, so `--help` or `-a` loads only what
//                  it needs (zod, yaml, pino... are loaded by the commands that use them)
//   dist/vip-mgmt.mjs  ONE self-contained file for a load balancer that has only `node`; also what
//                  the .deb runs as /usr/bin/vip-mgmt (scripts/deb.mjs)
// Both carry templates/*.mustache (src/cli/templates.ts): `render` and `cron` need nothing beside them.
import { build } from 'esbuild';
import { chmodSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

// The text of every template, keyed by file name, for src/cli/templates.ts. Defined as ONE string
// literal (JSON text), which esbuild inlines where it is used, in the chunk only cron and render
// import; an object value would become a module that every chunk initialises.
const templates = Object.fromEntries(
  readdirSync('templates')
    .filter((f) => f.endsWith('.mustache'))
    .sort()
    .map((f) => [f, readFileSync(`templates/${f}`, 'utf8')]),
);

const common = {
  entryPoints: { 'vip-mgmt': 'src/cli/entry.ts' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  legalComments: 'none',
  logLevel: 'warning',
  define: { __VIP_MGMT_TEMPLATES__: JSON.stringify(JSON.stringify(templates)) },
  // CommonJS dependencies use require, __filename and __dirname (write-file-atomic names its temp
  // files after __filename): give the ESM output all three.
  banner: {
    js: [
      "import { createRequire as __vipCreateRequire } from 'node:module';",
      "import { fileURLToPath as __vipFileURLToPath } from 'node:url';",
      "import { dirname as __vipDirname } from 'node:path';",
      'const require = __vipCreateRequire(import.meta.url);',
      'const __filename = __vipFileURLToPath(import.meta.url);',
      'const __dirname = __vipDirname(__filename);',
    ].join('\n'),
  },
};

rmSync('dist/bundle', { recursive: true, force: true });
await build({ ...common, outdir: 'dist/bundle', splitting: true, outExtension: { '.js': '.mjs' }, chunkNames: 'chunks/[name]-[hash]' });
const single = await build({ ...common, outdir: 'dist', banner: { js: `#!/usr/bin/env node\n${common.banner.js}` }, outExtension: { '.js': '.mjs' }, metafile: true });
// which node_modules packages the single file carries: scripts/deb.mjs lists them in the copyright file
writeFileSync('dist/vip-mgmt.meta.json', `${JSON.stringify(single.metafile)}\n`);
chmodSync('dist/vip-mgmt.mjs', 0o755);
