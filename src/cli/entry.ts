// Entry point of the single-file bundle (dist/vip-mgmt.mjs, `node dist/vip-mgmt.mjs ...`).
import { main } from './main.js';

await main();
