#!/usr/bin/env node
// Generates man/vip-mgmt.1 from the built command's own --help texts (run by `npm run build`), so
// the man page, --help and README cannot drift apart: the help is the single source.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const help = (...args) => execFileSync(process.execPath, ['bin/vip-mgmt', ...args, '--help'], { env: { ...process.env, NO_COLOR: '1', COLUMNS: '80' } }).toString();
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));

// roff: a backslash is \e; a line starting with . or ' would be a request.
const esc = (text) => text.replace(/\\/g, '\\e').replace(/^([.'])/gm, '\\&$1');
const pre = (text) => `.nf\n${esc(text.trimEnd())}\n.fi\n`;

const top = help();
const section = (text, name) => {
  const m = new RegExp(`^${name}:\\n([\\s\\S]*?)(?=^\\S|$(?![\\s\\S]))`, 'm').exec(text);
  return m ? m[1] : '';
};
const commands = [...section(top, 'Commands').matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]).filter((c) => c !== 'help');
const description = top.split('\n\n')[1].replace(/\n/g, ' ');

let out = `.TH VIP-MGMT 1 "" "vip-mgmt ${version}" "User Commands"
.SH NAME
vip-mgmt \\- ${esc(description)}
.SH SYNOPSIS
.B vip-mgmt
[\\fIoptions\\fR] \\fIcommand\\fR [\\fIargs\\fR]
.br
.B vip-mgmt
\\fB\\-a\\fR|\\fB\\-d\\fR \\fINAME\\fR...
.SH DESCRIPTION
${pre(top)}.SH COMMANDS
`;
for (const c of commands) {
  out += `.SS ${c}\n${pre(help(c))}`;
  if (c === 'config') out += `.SS config check\n${pre(help('config', 'check'))}`;
}
out += `.SH FILES
.TP
.I /etc/vip-mgmt/config.yaml
the configuration (or \\fB\\-c\\fR, or \\fB$VIP_MGMT_CONFIG\\fR)
.TP
.I /var/lib/vip-mgmt/
state_dir: maintenance holds, watchdog counters, DNS cache and the run lock
.SH ENVIRONMENT
.TP
.B VIP_MGMT_CONFIG
config file path when \\fB\\-c\\fR is not given
.TP
.B VIP_MGMT_LOG_FORMAT=json
logs on stderr as JSON lines
.TP
.B NO_COLOR
no colours
.SH SEE ALSO
.BR vtysh (1),
.BR ipvsadm (8),
.BR keepalived (8)
`;
mkdirSync('man', { recursive: true });
writeFileSync('man/vip-mgmt.1', out);
