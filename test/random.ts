// A seeded generator for the tests that compare a fast path with a slow one on generated input.
// (The LCG three of them used before, `% n` of its low bits, cycled through a handful of values:
// a 12-entry list gave 6 of its entries in 30,000 draws.)

/** rnd(n): an integer from 0 to n-1, the same sequence for the same SEED (mulberry32). */
export function seeded(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n);
  };
}
