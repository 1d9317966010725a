import { z } from 'zod'; if (process.env.JITLESS) z.config({ jitless: true });
import { checkState } from './dist/core/state.js';
const vips: string[] = [];
for (let i = 0; i < 1000; i++) vips.push(`192.0.${2 + (i >> 8)}.${i & 255}`);
for (let i = 0; i < 250; i++) vips.push(`2001:db8::${(i + 1).toString(16)}`);
const pfx = (v: string) => `${v}/${v.includes(':') ? 128 : 32}`;
const now = new Date().toISOString();
const state = { version: 1, holds: {}, watchdog: Object.fromEntries(vips.map((v) => [pfx(v), { state: 'up', count: 0, live: 8, since: now, services: 8 }])),
  announced: Object.fromEntries(vips.map((v) => [pfx(v), { routeMap: 'VIP-RANK-0', source: 'service', since: now }])),
  dns: Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`s${i}.wd.bench.test`, { addresses: [vips[i], ...(i < 250 ? [vips[1000 + i]] : [])], chain: [], expires: now, fetched: now }])),
  ipvs: { services: 10000, distrusted: 0 } };
const text = JSON.stringify(state, null, 2);
console.log('bytes', text.length);
for (let i = 0; i < 5; i++) { const t = performance.now(); const d = JSON.parse(text); const t1 = performance.now(); const r = checkState(d); console.log('parse', (t1 - t).toFixed(1), 'check', (performance.now() - t1).toFixed(1), r); }
