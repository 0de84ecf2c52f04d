/** A typed array's elements as a plain array (Array.from does not take the union of typed arrays). */
export const values = (a: ArrayLike<number | bigint>): (number | bigint)[] => Array.from(a);
