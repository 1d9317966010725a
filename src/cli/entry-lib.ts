// Entry point of dist/bundle/vip-mgmt.cjs, the bundle bin/vip-mgmt runs through bin/load.cjs (with
// V8's code cache) and scripts/code-cache.mjs warms up: it exports main instead of running it.
export { main } from './main.js';
