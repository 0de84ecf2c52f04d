// The property test's generator keeps its own promises: a step that says two operands broadcast
// builds shapes that do (a broken promise makes kiln's correct SHAPE_MISMATCH look like a failure).
import { expect, it } from "vitest";
import fc from "fast-check";
import { broadcasts, broadcastShape } from "./operands.js";
import { Picker } from "./picker.js";

it("broadcastShape gives a shape that broadcasts with its source, ranks 0 to 5 (seed 23 found rank 5 shifted)", () => {
  fc.assert(fc.property(
    fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 5 }),
    fc.array(fc.nat(), { maxLength: 12 }),
    (shape, picks) => {
      const s = broadcastShape(new Picker(picks), shape);
      expect(broadcasts(s, shape), `[${s}] from [${shape}]`).toBe(true);
      expect(s.length).toBeLessThanOrEqual(5);
    },
  ), { seed: 23, numRuns: 2000 });
});
