// A step adds one node (or a small motif of a few) to a graph under construction.
import type { Builder } from "./graph.js";
import type { Picker } from "./picker.js";

export interface Step {
  /** the registry op it exercises (a motif names its main op) */
  op: string;
  domain?: string;
  /** a name for the step when it is not the op's (motifs) */
  name?: string;
  /** how many nodes it adds, at most */
  nodes: number;
  /** add the node; false when nothing in the graph fits (the step is skipped) */
  build(b: Builder, p: Picker): boolean;
}
