// Default locations, in a module of their own: `--help` and `--version` must not load YAML and zod.
export const DEFAULT_CONFIG_PATH = '/etc/vip-mgmt/config.yaml';
export const DEFAULT_STATE_DIR = '/var/lib/vip-mgmt';
