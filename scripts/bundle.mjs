#!/usr/bin/env node
// Bundles the CLI and its dependencies (esbuild), so that a run reads a few files instead of hundreds
// of modules: on a slow disk, or the 9p root of the IPVS lab VM, start-up drops from ~11 s to ~5 s.
//   dist/bundle/   what bin/vip-mgmt runs: vip-mgmt.cjs and its V8 code cache vip-mgmt.cjs.cache
//                  (bin/load.cjs, scripts/code-cache.mjs)
//   dist/vip-mgmt.mjs  ONE self-contained file for a load balancer that has only `node`; also what
//                  the .deb runs as /usr/bin/vip-mgmt (scripts/deb.mjs)
// Both carry templates/*.mustache (src/cli/templates.ts): `render` and `cron` need nothing beside them.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

// The text of every template, keyed by file name, for src/cli/templates.ts. Defined as ONE string
// literal (JSON text), which esbuild inlines where it is used, in the chunk only cron and render
// import; an object value would become a module that every chunk initialises.
const templates = Object.fromEntries(
  readdirSync('templates')
    .filter((f) => f.endsWith('.mustache'))
    .sort()
    .map((f) => [f, readFileSync(`templates/${f}`, 'utf8')]),
);

// zod re-exports every locale (`z.locales`, ~390 KB of the bundle's ~800 KB of zod) through
// namespace exports that esbuild cannot shake; vip-mgmt uses none of them (English messages come
// from locales/en.js, which zod's schemas import directly). Every run that validates compiled them.
const noZodLocales = {
  name: 'no-zod-locales',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]v4[\\/](classic|core)$/.test(args.resolveDir) ? { path: 'zod-locales', namespace: 'no-zod-locales' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'no-zod-locales' }, () => ({ contents: 'export {};', loader: 'js' }));
  },
};

// __VIP_MGMT_BUILD__ (src/core/build.ts): the SHA-256 of every source file and the lock file, so
// that a state sum or a cached config made by another build is never taken as checked.
const buildId = (() => {
  const h = createHash('sha256');
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory()) walk(p);
      else h.update(`${p}\0`).update(readFileSync(p)).update('\0');
    }
  };
  walk('src');
  h.update(readFileSync('package-lock.json'));
  return h.digest('hex');
})();

// etcd3 loads its gRPC service definitions from .proto files beside its own source at run time
// (lib/connection-pool.js: loadSync(`${__dirname}/../proto/rpc.proto`)), which a bundle does not
// have. Parse them here, once, with the same protobufjs, and hand the bundle the JSON descriptor
// (proto-loader's fromJSON, same options): nothing to ship beside the bundle, nothing read at run time.
const require = createRequire(import.meta.url);
const etcdPool = require.resolve('etcd3/lib/connection-pool.js');
// protobufjs as proto-loader (etcd3's) resolves it; keepCase as etcd3 asks (range_end, prev_kv)
const protobuf = createRequire(require.resolve('@grpc/proto-loader', { paths: [etcdPool] }))('protobufjs');
const etcdProtoJson = JSON.stringify(new protobuf.Root().loadSync(join(dirname(etcdPool), '..', 'proto', 'rpc.proto'), { keepCase: true }).toJSON());
const etcdProtoPlugin = {
  name: 'etcd3-proto',
  setup(b) {
    b.onLoad({ filter: /etcd3[\\/]lib[\\/]connection-pool\.js$/ }, async (args) => {
      const text = readFileSync(args.path, 'utf8');
      const from = '(0, proto_loader_1.loadSync)(`${__dirname}/../proto/rpc.proto`,';
      if (!text.includes(from)) throw new Error(`etcd3 changed how it loads rpc.proto (${args.path}): update scripts/bundle.mjs`);
      return { contents: text.replace(from, `(0, proto_loader_1.fromJSON)(${etcdProtoJson},`), loader: 'js' };
    });
  },
};

const common = {
  plugins: [noZodLocales, etcdProtoPlugin],
  entryPoints: { 'vip-mgmt': 'src/cli/entry.ts' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  legalComments: 'none',
  logLevel: 'warning',
  define: { __VIP_MGMT_TEMPLATES__: JSON.stringify(JSON.stringify(templates)), __VIP_MGMT_BUILD__: JSON.stringify(buildId) },
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
// CommonJS, so that bin/load.cjs can compile it with a V8 code cache (node:vm Script; Node 20 has no
// code cache for ES modules). One file: the modules a command does not import are wrapped by esbuild
// and never run, and the cache holds what the warm-up compiled, so nothing is parsed twice.
await build({
  ...common,
  entryPoints: { 'vip-mgmt': 'src/cli/entry-lib.ts' },
  outdir: 'dist/bundle',
  format: 'cjs',
  outExtension: { '.js': '.cjs' },
  // less text to read, hash, compile and cache: whitespace and comments out, names kept (stack traces
  // and profiles still name functions); it also leaves the file ASCII, which bin/load.cjs relies on
  minifyWhitespace: true,
  minifySyntax: true,
  // require, __filename and __dirname come from the CommonJS wrapper; import.meta.url from them
  define: { ...common.define, 'import.meta.url': '__vipImportMetaUrl' },
  banner: { js: "const __vipImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
});
// What bin/load.cjs needs of the bundle, checked on its one text: it compiles it as a vm.Script, which
// has no loader for import() (esbuild leaves a dynamic import of a builtin, e.g. import('node:http'),
// as import()), and it reads it as latin1 (a third of the time of UTF-8 decoding), so it must be ASCII.
{
  const out = readFileSync('dist/bundle/vip-mgmt.cjs');
  if (out.some((b) => b > 127)) throw new Error('dist/bundle/vip-mgmt.cjs is not ASCII: bin/load.cjs reads it as latin1');
  const found = out.toString('latin1').match(/\bimport\((["'`])[^"'`]*\1\)/g);
  if (found) throw new Error(`dist/bundle/vip-mgmt.cjs keeps dynamic import(s) ${[...new Set(found)].join(', ')}: bin/load.cjs cannot run them; import them statically`);
}
// the code cache: scripts/code-cache.mjs runs the commands' paths once and keeps what V8 compiled
execFileSync(process.execPath, ['scripts/code-cache.mjs'], { stdio: 'inherit' });
// whitespace and comments out here too (names kept): the .deb's node parses all of it on every run
const single = await build({ ...common, minifyWhitespace: true, minifySyntax: true, outdir: 'dist', banner: { js: `#!/usr/bin/env node\n${common.banner.js}` }, outExtension: { '.js': '.mjs' }, metafile: true });
// which node_modules packages the single file carries: scripts/deb.mjs lists them in the copyright file
writeFileSync('dist/vip-mgmt.meta.json', `${JSON.stringify(single.metafile)}\n`);
chmodSync('dist/vip-mgmt.mjs', 0o755);
