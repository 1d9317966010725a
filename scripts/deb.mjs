#!/usr/bin/env node
// Builds dist/vip-mgmt_<version>_all.deb from what `npm run build` wrote, with dpkg-deb alone (no
// debhelper): `npm run deb`, or `node scripts/deb.mjs [--out DIR]` after a build.
//   /usr/bin/vip-mgmt -> ../share/vip-mgmt/vip-mgmt.mjs   the single-file bundle (templates embedded),
//        behind a symlink because node picks ESM by the .mjs extension (an extensionless ESM file
//        only runs on node >= 20.19, which detects the syntax; Depends says nodejs >= 20)
//   /usr/share/man/man1/vip-mgmt.1.gz, /usr/share/bash-completion/completions/vip-mgmt
//   /lib/systemd/system/vip-mgmt-watchdog.{service,timer}, vip-mgmt-watchdogd.service: not enabled
//        (no maintainer scripts at all: nothing runs at install or removal)
//   /usr/share/doc/vip-mgmt/{copyright,changelog.gz,README.md.gz,examples/config.yaml}
//   /etc/vip-mgmt/   an empty directory (the operator's config.yaml goes there; no conffile)
// Reproducible: every mtime is SOURCE_DATE_EPOCH (default: the last commit's time), owners root
// (--root-owner-group), gzip -9n; two builds of one tree give the same bytes.
// The native version is package.json's (no Debian revision: this project is its own upstream), so
// lintian wants changelog.gz, not changelog.Debian.gz.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, lutimesSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');
const { values: args } = parseArgs({ options: { out: { type: 'string', default: join(ROOT, 'dist') } } });

const fail = (msg) => {
  console.error(`deb: ${msg}`);
  process.exit(1);
};

const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
if (!/^[0-9][A-Za-z0-9.+~]*$/.test(version)) fail(`package.json version "${version}" is not a native Debian version`);
const built = ['dist/vip-mgmt.mjs', 'dist/vip-mgmt.meta.json', 'man/vip-mgmt.1', 'completion/vip-mgmt.bash'];
const gone = built.filter((f) => !existsSync(join(ROOT, f)));
if (gone.length) fail(`${gone.join(', ')} missing: run npm run build first (npm run deb does)`);
const builtVersion = execFileSync(process.execPath, [join(ROOT, 'dist/vip-mgmt.mjs'), '--version']).toString().trim();
if (builtVersion !== version) fail(`dist/vip-mgmt.mjs is version ${builtVersion}, package.json says ${version}: run npm run build`);
if (spawnSync('dpkg-deb', ['--version']).error) fail('dpkg-deb not found (Debian package dpkg)');

const epoch = Number(process.env.SOURCE_DATE_EPOCH || lastCommitTime() || Math.floor(statSync(join(ROOT, 'package.json')).mtimeMs / 1000));
const maintainer = process.env.DEB_MAINTAINER || /^Maintainer: (.*)$/m.exec(readFileSync(join(ROOT, 'packaging/debian/control'), 'utf8'))[1];

function lastCommitTime() {
  const r = spawnSync('git', ['log', '-1', '--format=%ct'], { cwd: ROOT, encoding: 'utf8' });
  return r.status === 0 && /^\d+$/.test(r.stdout.trim()) ? r.stdout.trim() : null;
}

// ---- staging tree -------------------------------------------------------------------------------

const stage = mkdtempSync(join(tmpdir(), 'vip-mgmt-deb-'));
process.on('exit', () => rmSync(stage, { recursive: true, force: true }));
const at = (p) => join(stage, p);
const dir = (p) => mkdirSync(at(p), { recursive: true });
function put(p, content, mode = 0o644) {
  dir(dirname(p));
  writeFileSync(at(p), content);
  chmodSync(at(p), mode);
}
/** gzip -9n (no name, no time stamp in the header, as Debian policy asks) of a file's or a text's bytes */
const gzip = (what) => execFileSync('gzip', ['-9n', '-c'], { input: typeof what === 'string' ? what : readFileSync(what.file) });

// the bundle, started by Debian's node (nodejs provides /usr/bin/node)
const bundle = readFileSync(join(ROOT, 'dist/vip-mgmt.mjs'), 'utf8').replace(/^#!.*\n/, '#!/usr/bin/node\n');
put('usr/share/vip-mgmt/vip-mgmt.mjs', bundle, 0o755);
dir('usr/bin');
symlinkSync('../share/vip-mgmt/vip-mgmt.mjs', at('usr/bin/vip-mgmt'));
put('usr/share/man/man1/vip-mgmt.1.gz', gzip({ file: join(ROOT, 'man/vip-mgmt.1') }));
put('usr/share/bash-completion/completions/vip-mgmt', readFileSync(join(ROOT, 'completion/vip-mgmt.bash')));
for (const unit of readdirSync(join(ROOT, 'packaging/systemd')).sort()) {
  put(`lib/systemd/system/${unit}`, readFileSync(join(ROOT, 'packaging/systemd', unit)));
}
const doc = 'usr/share/doc/vip-mgmt';
put(`${doc}/copyright`, copyright());
put(`${doc}/changelog.gz`, gzip(changelog()));
put(`${doc}/README.md.gz`, gzip({ file: join(ROOT, 'README.md') }));
put(`${doc}/examples/config.yaml`, readFileSync(join(ROOT, 'packaging/config.example.yaml')));
dir('etc/vip-mgmt');

function changelog() {
  const date = new Date(epoch * 1000).toUTCString().replace(/GMT$/, '+0000');
  return `vip-mgmt (${version}) unstable; urgency=medium\n\n  * vip-mgmt ${version}, packaged by npm run deb (scripts/deb.mjs).\n\n -- ${maintainer}  ${date}\n`;
}

// ---- DEBIAN/ ------------------------------------------------------------------------------------

/** Every path below the stage (not DEBIAN/), sorted, directories included. */
function walk(rel = '') {
  const out = [];
  for (const e of readdirSync(join(stage, rel)).sort()) {
    const p = rel ? `${rel}/${e}` : e;
    if (p === 'DEBIAN') continue;
    out.push(p);
    if (lstatSync(at(p)).isDirectory()) out.push(...walk(p));
  }
  return out;
}
const paths = walk();
// Installed-Size as dpkg-gencontrol counts it: KiB per file rounded up, 1 per directory or symlink
const kib = paths.reduce((n, p) => {
  const s = lstatSync(at(p));
  return n + (s.isFile() ? Math.ceil(s.size / 1024) : 1);
}, 0);
const control = readFileSync(join(ROOT, 'packaging/debian/control'), 'utf8')
  .replace('@VERSION@', version)
  .replace('@INSTALLED_SIZE@', String(kib))
  .replace(/^Maintainer: .*$/m, `Maintainer: ${maintainer}`);
put('DEBIAN/control', control);
const md5 = paths.filter((p) => lstatSync(at(p)).isFile()).map((p) => `${createHash('md5').update(readFileSync(at(p))).digest('hex')}  ${p}\n`);
put('DEBIAN/md5sums', md5.join(''));

for (const p of [...paths, 'DEBIAN', 'DEBIAN/control', 'DEBIAN/md5sums', '']) {
  const s = lstatSync(at(p));
  if (s.isDirectory()) chmodSync(at(p), 0o755); // whatever the umask made of them
  lutimesSync(at(p), epoch, epoch);
}

mkdirSync(args.out, { recursive: true });
const deb = join(resolve(args.out), `vip-mgmt_${version}_all.deb`);
const r = spawnSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', stage, deb], {
  stdio: ['ignore', 'ignore', 'inherit'],
  env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) },
});
if (r.status !== 0) fail(`dpkg-deb --build failed (exit ${r.status})`);
console.log(deb);

// ---- copyright ----------------------------------------------------------------------------------

/** debian/copyright (DEP-5): vip-mgmt itself, and every package esbuild put into the bundle (from
 *  its metafile), with the holder from the package's LICENSE file, else its author. */
function copyright() {
  const meta = JSON.parse(readFileSync(join(ROOT, 'dist/vip-mgmt.meta.json'), 'utf8'));
  const pkgs = new Set();
  for (const input of Object.keys(meta.inputs)) {
    const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m) pkgs.add(m[1]);
  }
  const year = new Date(epoch * 1000).getUTCFullYear();
  let text = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: vip-mgmt
Comment: /usr/share/vip-mgmt/vip-mgmt.mjs is one esbuild bundle of vip-mgmt and the npm packages
 listed below (versions as in vip-mgmt's package-lock.json); their licence comments were left out
 of the bundle, so their notices are here.

Files: *
Copyright: ${year} vip-mgmt maintainers
License: Expat
`;
  const licenses = new Set(['Expat']);
  for (const name of [...pkgs].sort()) {
    const pdir = join(ROOT, 'node_modules', name);
    const pj = JSON.parse(readFileSync(join(pdir, 'package.json'), 'utf8'));
    const spdx = typeof pj.license === 'string' ? pj.license : pj.license?.type;
    const license = { MIT: 'Expat', ISC: 'ISC', 'Apache-2.0': 'Apache-2.0', 'BSD-3-Clause': 'BSD-3-clause' }[spdx];
    if (!license) fail(`${name}: licence "${spdx}" has no text in scripts/deb.mjs; add it`);
    licenses.add(license);
    const file = readdirSync(pdir).find((f) => /^licen[cs]e/i.test(f));
    const notice = file && /^\s*copyright\s+(?:\(c\)|©|\d)[^\n]*/im.exec(readFileSync(join(pdir, file), 'utf8'))?.[0];
    const author = typeof pj.author === 'string' ? pj.author : pj.author?.name;
    const holder = (notice ?? '').trim().replace(/^copyright\s+(\(c\)\s*|©\s*)?/i, '') || author || `the ${name} authors`;
    text += `\nFiles: node_modules/${name}/*\nCopyright: ${holder}\nLicense: ${license}\nComment: ${name} ${pj.version}\n`;
  }
  for (const l of [...licenses].sort()) text += `\nLicense: ${l}\n${licenseText(l)}`;
  return text;
}

/** The licence paragraphs' texts (Apache-2.0 is in Debian's common-licenses). */
function licenseText(name) {
  return {
  Expat: ` Permission is hereby granted, free of charge, to any person obtaining a copy
 of this software and associated documentation files (the "Software"), to deal
 in the Software without restriction, including without limitation the rights
 to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
 copies of the Software, and to permit persons to whom the Software is
 furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in
 all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN
 THE SOFTWARE.
`,
  ISC: ` Permission to use, copy, modify, and/or distribute this software for any
 purpose with or without fee is hereby granted, provided that the above
 copyright notice and this permission notice appear in all copies.
 .
 THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
 WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
 MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
 ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
 WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
 ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
 OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.
`,
  // protobufjs (etcd3's gRPC definitions, fleet mode)
  'BSD-3-clause': ` Redistribution and use in source and binary forms, with or without
 modification, are permitted provided that the following conditions are met:
 .
 1. Redistributions of source code must retain the above copyright notice,
    this list of conditions and the following disclaimer.
 2. Redistributions in binary form must reproduce the above copyright notice,
    this list of conditions and the following disclaimer in the documentation
    and/or other materials provided with the distribution.
 3. Neither the name of the copyright holder nor the names of its
    contributors may be used to endorse or promote products derived from this
    software without specific prior written permission.
 .
 THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
 AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
 IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE
 ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE
 LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR
 CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF
 SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS
 INTERRUPTION) HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN
 CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE)
 ARISING IN ANY WAY OUT OF THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE
 POSSIBILITY OF SUCH DAMAGE.
`,
  'Apache-2.0': ` On Debian systems, the full text of the Apache License, Version 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
`,
}[name];
}
