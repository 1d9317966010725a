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
  plugins: [etcdProtoPlugin],
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
