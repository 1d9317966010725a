import { scenario } from './bench/c-watchdog.ts';
import { writeFileSync } from 'node:fs';
const { text } = scenario();
writeFileSync('/tmp/perf/table.txt', text);
