// The layer rule, in one table: a file may import files of its own layer or of layers below it.
//   runtime <- front (IR, ONNX, op registry) <- codegen <- passes <- driver <- models, bench
export interface Layer {
  name: string;
  /** repository-relative path prefixes of the layer's files */
  paths: string[];
}

export const LAYERS: Layer[] = [
  { name: "runtime", paths: ["runtime/"] },
  { name: "front", paths: ["compiler/ir/", "compiler/onnx/", "compiler/ops/"] },
  { name: "codegen", paths: ["codegen/"] },
  { name: "passes", paths: ["passes/"] },
  { name: "driver", paths: ["compiler/driver/", "compiler/index.ts"] },
  { name: "tools", paths: ["models/", "bench/"] },
];

export function layerOf(file: string): number {
  const k = LAYERS.findIndex((l) => l.paths.some((p) => file.startsWith(p)));
  if (k < 0) throw new Error(`${file} belongs to no layer: add its folder to test/architecture/layers.ts`);
  return k;
}

/** Passes see codegen only through this one module: what the kernels can do, asked without building code. */
export const PASSES_MAY_IMPORT_FROM_CODEGEN = ["codegen/capabilities.ts"];
