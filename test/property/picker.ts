// The choices a graph step makes (which operand, which axis, which attribute value) are read
// from a list of random integers drawn by fast-check. Shrinking moves those integers toward 0,
// so every choice here is written with 0 meaning the plainest option: the first operand, no
// optional input, default attributes. A list that runs out reads as zeros. fast-check draws
// small integers more often than others (its bias toward edge cases): each is scrambled by a
// multiplication (0 stays 0) so the bias does not favour the first options.

/** A bijection of 32-bit integers that keeps 0 at 0 (Knuth's multiplicative hash). */
export const scramble = (v: number) => Math.imul(v, 0x9e3779b1) >>> 0;

export class Picker {
  private at = 0;
  constructor(private readonly picks: readonly number[]) {}

  private next(): number {
    return scramble(this.at < this.picks.length ? this.picks[this.at++] : (this.at++, 0));
  }

  /** an integer in [0, n) */
  int(n: number): number {
    return n <= 1 ? 0 : this.next() % n;
  }

  /** an integer in [lo, hi] */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error("pick from an empty list");
    return xs[this.int(xs.length)];
  }

  /** true with probability p (false when shrunk) */
  chance(p: number): boolean {
    return this.next() % 1000 >= 1000 * (1 - p);
  }

  /** a float in [lo, hi) on a grid of 1/1000 of the range (plain numbers print short in IR dumps) */
  float(lo: number, hi: number): number {
    return lo + (this.next() % 1000) * ((hi - lo) / 1000);
  }

  /** a random subset of xs (possibly empty), in order */
  subset<T>(xs: readonly T[]): T[] {
    return xs.filter(() => this.chance(0.5));
  }

  /** a random permutation of [0, n) (the identity when shrunk) */
  permutation(n: number): number[] {
    const rest = [...Array(n).keys()];
    const out: number[] = [];
    while (rest.length) out.push(rest.splice(this.int(rest.length), 1)[0]);
    return out;
  }
}
