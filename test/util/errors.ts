// Typed errors in tests: what a promise rejects with, checked for kiln's code and message.
import { expect } from "vitest";
import { KilnError } from "../../runtime/errors.js";

/** The KilnError `p` rejects with, after checking its code and that its text matches each pattern. */
export async function expectKilnError(p: Promise<unknown>, code: string, ...patterns: RegExp[]): Promise<KilnError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(KilnError);
  expect((err as KilnError).code, String(err)).toBe(code);
  for (const re of patterns) expect(String(err)).toMatch(re);
  return err as KilnError;
}
