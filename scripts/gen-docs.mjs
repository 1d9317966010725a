#!/usr/bin/env node
// Generates, from the built command's own --help texts (run by `npm run build`), so that they cannot
// drift from --help and README:
//   man/vip-mgmt.1            the man page
//   completion/vip-mgmt.bash  bash completion: commands, their options and the global options;
//                             -c/--config and --templates complete paths
// Each --help is asked once (one node start each) and serves both.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const helps = new Map();
const help = (...args) => {
  const key = args.join(' ');
  if (!helps.has(key)) {
    helps.set(key, execFileSync(process.execPath, ['bin/vip-mgmt', ...args, '--help'], { env: { ...process.env, NO_COLOR: '1', COLUMNS: '80' } }).toString());
  }
  return helps.get(key);
};
/** The lines under "NAME:" up to the next blank line. */
const block = (text, name) => {
  const at = text.indexOf(`\n${name}:\n`);
  if (at < 0) return '';
  const body = text.slice(at + name.length + 3);
  const end = body.indexOf('\n\n');
  return end < 0 ? body : body.slice(0, end);
};
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
const top = help();
const commands = [...block(top, 'Commands').matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]).filter((c) => c !== 'help');

// ---- man page ---------------------------------------------------------------------------------

// roff: a backslash is \e; a line starting with . or ' would be a request.
const esc = (text) => text.replace(/\\/g, '\\e').replace(/^([.'])/gm, '\\&$1');
const pre = (text) => `.nf\n${esc(text.trimEnd())}\n.fi\n`;

const description = top.split('\n\n')[1].replace(/\n/g, ' ');

let man = `.TH VIP-MGMT 1 "" "vip-mgmt ${version}" "User Commands"
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
  man += `.SS ${c}\n${pre(help(c))}`;
  if (c === 'config') man += `.SS config check\n${pre(help('config', 'check'))}`;
}
man += `.SH FILES
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
writeFileSync('man/vip-mgmt.1', man);

// ---- bash completion --------------------------------------------------------------------------

const options = (text) => [...block(text, 'Options').matchAll(/^ {2}(?:(-\w), )?(--[\w-]+)/gm)].flatMap((m) => [m[1], m[2]].filter(Boolean));

const perCommand = commands.map((c) => `    ${c}) opts="${options(help(c)).join(' ')}${c === 'config' ? ' check' : ''}" ;;`).join('\n');

const script = `# bash completion for vip-mgmt (generated from --help by scripts/gen-docs.mjs)
# Install: copy to /usr/share/bash-completion/completions/vip-mgmt
_vip_mgmt() {
  local cur prev cmd i opts
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
    -c|--config|--templates) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
  esac
  cmd=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      -c|--config|--reason|--lock-wait|--templates|--dc|--every|--schedule|--user) ((i++)) ;;
      -*) ;;
      *) cmd="\${COMP_WORDS[i]}"; break ;;
    esac
  done
  local globals="${options(top).join(' ')}"
  case "$cmd" in
    "") opts="${commands.join(' ')} $globals" ;;
${perCommand}
    *) opts="" ;;
  esac
  COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
}
complete -F _vip_mgmt vip-mgmt
`;
mkdirSync('completion', { recursive: true });
writeFileSync('completion/vip-mgmt.bash', script);
