// What a command opened that would keep the process alive (the fleet's gRPC channels), closed once the command is done.
const cleanups = new Set<() => Promise<void> | void>();

export function atCommandEnd(fn: () => Promise<void> | void): () => void {
  cleanups.add(fn);
  return () => void cleanups.delete(fn);
}

export async function runCleanups(): Promise<void> {
  const all = [...cleanups];
  cleanups.clear();
  await Promise.allSettled(all.map(async (fn) => fn()));
}
