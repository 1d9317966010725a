import v8 from 'node:v8';
if (process.env.SEMI) v8.setFlagsFromString(`--max-semi-space-size=${process.env.SEMI}`);
if (process.env.SEMI) v8.setFlagsFromString(`--min-semi-space-size=${process.env.SEMI}`);
import { readFileSync } from 'node:fs';
const { parseProcIpVs } = await import('./dist/core/ipvs.js');
const text = readFileSync('/tmp/perf/table.txt', 'utf8');
const t = performance.now(); const tb = parseProcIpVs(text); console.log('parse', (performance.now() - t).toFixed(1));
