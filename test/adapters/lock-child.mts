// Child process for state-lock.test.ts: takes the run lock of DIR (stale time MS), prints "locked",
// then on each stdin line "check" prints the outcome of assertHeld() and on "release" releases and exits.
import { createInterface } from 'node:readline';
import { createStateStore } from '../../src/adapters/state.ts';

const [dir, staleText] = process.argv.slice(2);
const store = createStateStore(dir!, {
  staleMs: Number(staleText),
  // a logger that throws: the lock must record the loss, not crash the process from its timer
  onCompromised: (e) => {
    process.stdout.write(`compromised ${(e as { code?: string }).code}\n`);
    throw new Error('onCompromised threw');
  },
});
const lock = await store.lock();
process.stdout.write(`locked ${process.pid}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'check') {
    try {
      await lock.assertHeld();
      process.stdout.write('held\n');
    } catch (e) {
      process.stdout.write(`${(e as { code?: string }).code} ${(e as Error).message}\n`);
    }
  } else if (line === 'release') {
    await lock.release();
    process.stdout.write('released\n');
    process.exit(0);
  }
}
