// Which code runs: scripts/bundle.mjs defines __VIP_MGMT_BUILD__ as the SHA-256 of the sources and
// the lock file it bundled. Results this code validated and stored (the state file's sum, the config
// cache) carry it, so that another build never takes them as checked. Unbundled (tsx on src/, tsc's
// dist/) it is null, and nothing is taken as checked.
declare const __VIP_MGMT_BUILD__: string | undefined;

export const BUILD_ID: string | null = typeof __VIP_MGMT_BUILD__ === 'undefined' ? null : __VIP_MGMT_BUILD__;
