// The config's records keyed by names from the file (datacenters, watchdog.fwmarks) have no
// prototype: `constructor` or `toString` are then keys only when the file lists them, for `in` and
// indexing alike. The schema makes them so (ownKeys); a config read back from the cache (file.ts)
// is JSON, so reviveConfig makes the same records so again. test/core/config.test.ts holds the two
// to the same list: a parsed config and its revived JSON copy must be deeply, strictly equal.
export const ownKeys = <T>(rec: Record<string, T>): Record<string, T> => Object.assign(Object.create(null) as Record<string, T>, rec);

/** Where ownKeys records are: a path of plain keys from the top of the config. */
export const OWN_KEY_RECORDS: readonly (readonly string[])[] = [['datacenters'], ['watchdog', 'fwmarks']];

/** A validated config's JSON copy with its own-key records restored (in place; returns it). */
export function reviveConfig<T>(config: T): T {
  for (const path of OWN_KEY_RECORDS) {
    let parent = config as Record<string, unknown> | undefined;
    for (const k of path.slice(0, -1)) parent = parent?.[k] as Record<string, unknown> | undefined;
    const last = path[path.length - 1]!;
    const rec = parent?.[last];
    if (parent && rec && typeof rec === 'object') parent[last] = ownKeys(rec as Record<string, unknown>);
  }
  return config;
}
