// What every command receives: loaded config, adapters, output channels and global options.
import type { Config } from '../config/load.js';
import type { Clock, Log, Resolver, Speaker, StateStore } from '../core/types.js';

export interface GlobalOptions {
  config: string; // path of the config file
  json: boolean; // machine output on stdout
  dryRun: boolean; // print the plan, change nothing
  quiet: boolean;
  verbose: boolean;
  color: boolean; // false with --no-color or when stdout is not a TTY
}

/** stdout carries data; logs and errors go to stderr through `log`. */
export interface Output {
  /** Write a line (or a JSON document under --json) of data to stdout. */
  data(text: string): void;
  json(value: unknown): void;
}

export interface Deps {
  opts: GlobalOptions;
  config: Config;
  resolver: Resolver;
  speaker: Speaker;
  store: StateStore;
  clock: Clock;
  log: Log;
  out: Output;
}
