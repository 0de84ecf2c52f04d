// ai.onnx.ml TreeEnsemble (opset 5): its attributes checked and flattened into the tables its
// kernel walks (codegen/kernels/ml/tree-ensemble.ts). A node or leaf is a reference: a node's
// index (>= 0), or -1 - a leaf's index. Set membership nodes (mode 6) take their members from
// membership_values, one NaN-ended run per such node in node order, as the reference reads them.
import { toNumbers } from "../ir/values.js";
import type { Attrs } from "../ir/attrs.js";

/** the set membership mode; 0-5 compare: LEQ, LT, GTE, GT, EQ, NEQ */
export const MEMBER = 6;

export interface TreeTables {
  /** per node: feature, mode, split, the true and false references, missing values go true (0 or 1), members' start and end in `members` */
  feature: number[];
  mode: number[];
  split: number[];
  truePath: number[];
  falsePath: number[];
  missingTrue: number[];
  memberStart: number[];
  memberEnd: number[];
  members: number[];
  /** per leaf: its target and weight */
  leafTarget: number[];
  leafWeight: number[];
  /** per tree: its root's reference */
  roots: number[];
  targets: number;
  aggregate: number;
  postTransform: number;
}

/** The tables, or the first reason the attributes are invalid (for `features` inputs per row). */
export function treeTables(attrs: Attrs, features: number): TreeTables | string {
  const ints = (name: string) => attrs.ints(name, []);
  const tensorOrNone = (name: string) => { const t = attrs.tensor(name); return t ? toNumbers(t) : undefined; };
  const feature = ints("nodes_featureids"), truePath = ints("nodes_truenodeids"), falsePath = ints("nodes_falsenodeids");
  const trueLeaf = ints("nodes_trueleafs"), falseLeaf = ints("nodes_falseleafs");
  const mode = tensorOrNone("nodes_modes") ?? [], split = tensorOrNone("nodes_splits") ?? [];
  const missing = ints("nodes_missing_value_tracks_true");
  const leafTarget = ints("leaf_targetids"), leafWeight = tensorOrNone("leaf_weights") ?? [];
  const roots = ints("tree_roots");
  const targets = attrs.int("n_targets", 0);
  const n = feature.length, leaves = leafTarget.length;
  for (const [name, v] of [["nodes_modes", mode], ["nodes_splits", split], ["nodes_truenodeids", truePath], ["nodes_falsenodeids", falsePath], ["nodes_trueleafs", trueLeaf], ["nodes_falseleafs", falseLeaf]] as const) {
    if (v.length !== n) return `${name} has ${v.length} entries for ${n} nodes`;
  }
  if (missing.length && missing.length !== n) return `nodes_missing_value_tracks_true has ${missing.length} entries for ${n} nodes`;
  if (leafWeight.length !== leaves) return `leaf_weights has ${leafWeight.length} entries for ${leaves} leaves`;
  if (targets < 1) return "n_targets must be at least 1";
  if (!roots.length) return "tree_roots is empty";
  const ref = (id: number, leaf: number, what: string): number | string => {
    if (leaf) return id >= 0 && id < leaves ? -1 - id : `${what} leaf ${id} is out of range (${leaves} leaves)`;
    return id >= 0 && id < n ? id : `${what} node ${id} is out of range (${n} nodes)`;
  };
  const tables: TreeTables = {
    feature, mode, split, truePath: [], falsePath: [], missingTrue: missing.length ? missing : new Array(n).fill(0),
    memberStart: [], memberEnd: [], members: [], leafTarget, leafWeight, roots: [], targets,
    aggregate: attrs.int("aggregate_function", 1), postTransform: attrs.int("post_transform", 0),
  };
  const values = tensorOrNone("membership_values") ?? [];
  let at = 0;
  for (let k = 0; k < n; k++) {
    if (feature[k] < 0 || feature[k] >= features) return `node ${k} reads feature ${feature[k]} of ${features}`;
    if (!Number.isInteger(mode[k]) || mode[k] < 0 || mode[k] > MEMBER) return `node ${k} has mode ${mode[k]}`;
    const [t, f] = [ref(truePath[k], trueLeaf[k], `node ${k}'s true`), ref(falsePath[k], falseLeaf[k], `node ${k}'s false`)];
    if (typeof t === "string") return t;
    if (typeof f === "string") return f;
    tables.truePath.push(t);
    tables.falsePath.push(f);
    tables.memberStart.push(tables.members.length);
    if (mode[k] === MEMBER) {
      for (; at < values.length && !Number.isNaN(values[at]); at++) tables.members.push(values[at]);
      if (at >= values.length) return `membership_values has no NaN-ended set for node ${k}`;
      at++;
    }
    tables.memberEnd.push(tables.members.length);
  }
  if (at !== values.length) return "membership_values has sets no set membership node takes";
  for (const r of roots) {
    if (r < 0 || r >= n) return `tree root ${r} is out of range (${n} nodes)`;
    // a root that is a leaf: both its paths the same leaf (the reference's reading)
    tables.roots.push(trueLeaf[r] && falseLeaf[r] && truePath[r] === falsePath[r] ? tables.truePath[r] : r);
  }
  if (leafTarget.some((tg) => tg < 0 || tg >= targets)) return `a leaf's target is out of range (${targets} targets)`;
  if (tables.aggregate < 0 || tables.aggregate > 3) return `aggregate_function ${tables.aggregate} is not one of 0..3`;
  // a walk ends: every path leads away from the root without cycles (a node deeper than the count is a cycle)
  for (const r of tables.roots) {
    const depth = new Map<number, number>();
    const stack: [number, number][] = [[r, 0]];
    while (stack.length) {
      const [k, d] = stack.pop()!;
      if (k < 0) continue;
      if (d > n) return `tree ${tables.roots.indexOf(r)} has a cycle`;
      if ((depth.get(k) ?? -1) >= d) continue;
      depth.set(k, d);
      stack.push([tables.truePath[k], d + 1], [tables.falsePath[k], d + 1]);
    }
  }
  return tables;
}
