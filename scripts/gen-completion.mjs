#!/usr/bin/env node
// Generates completion/vip-mgmt.bash from the built command's --help texts (run by `npm run build`):
// commands, their options and the global options complete; -c/--config and --templates complete paths.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';

const help = (...args) => execFileSync(process.execPath, ['bin/vip-mgmt', ...args, '--help'], { env: { ...process.env, NO_COLOR: '1' } }).toString();
const block = (text, name) => {
  const at = text.indexOf(`\n${name}:\n`);
  if (at < 0) return '';
  const body = text.slice(at + name.length + 3);
  const end = body.indexOf('\n\n');
  return end < 0 ? body : body.slice(0, end);
};
const options = (text) => [...block(text, 'Options').matchAll(/^ {2}(?:(-\w), )?(--[\w-]+)/gm)].flatMap((m) => [m[1], m[2]].filter(Boolean));

const top = help();
const commands = [...block(top, 'Commands').matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]).filter((c) => c !== 'help');
const perCommand = commands.map((c) => `    ${c}) opts="${options(help(c)).join(' ')}${c === 'config' ? ' check' : ''}" ;;`).join('\n');

const script = `# bash completion for vip-mgmt (generated from --help by scripts/gen-completion.mjs)
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
