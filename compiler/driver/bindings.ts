// Typed bindings for a compiled model (kiln compile --emit-ts): a TypeScript module whose run()
// takes exactly the model's inputs (names as properties, each dtype's typed array, the compiled
// dims as tuple types, a dim the ONNX model left symbolic labelled with its name) and returns
// typed outputs, with the model's doc_string and metadata as doc comments. Built with ts-morph's
// AST API from the manifest; ts-morph (and the TypeScript compiler inside it) loads only here.
import { dtype, sizeOf, type DTypeName } from "../../runtime/dtypes.js";
import type { Manifest, TensorSlot } from "../../runtime/manifest.js";
import { evalDim, formatDim, type DimExpr, type SymbolInfo } from "../../runtime/dims.js";
import type { SourceFile } from "ts-morph";
import { listed } from "../../runtime/errors.js";

export interface BindingsOptions {
  /** the artifact's path relative to the generated file, loaded by default ("./model.wasm") */
  artifact: string;
  /** where the runtime is imported from: "kiln/runtime" (default), or "./runtime/index.js" in a package */
  runtime?: string;
  /** the class's name, made an identifier (default: from the model's graph name; kiln compile passes the file's) */
  name?: string;
}

const IDENT = /^[A-Za-z_$][\w$]*$/;
const RESERVED = new Set(["break", "case", "catch", "class", "const", "continue", "debugger", "default", "delete", "do", "else", "enum", "export", "extends", "false", "finally", "for", "function", "if", "import", "in", "instanceof", "new", "null", "return", "super", "switch", "this", "throw", "true", "try", "typeof", "var", "void", "while", "with"]);

/** A property name as written in a type: bare when it is an identifier, quoted otherwise ("input.1"). */
const propertyName = (name: string) => (IDENT.test(name) ? name : JSON.stringify(name));

/** "squeezenet_old" -> "SqueezenetOld"; names that give no identifier -> "Model" */
export function className(raw: string | undefined): string {
  const words = (raw ?? "").split(/[^A-Za-z0-9]+/).filter((w) => w);
  let name = words.map((w) => w[0].toUpperCase() + w.slice(1)).join("");
  if (!name) return "Model";
  if (/^\d/.test(name)) name = "Model" + name;
  return RESERVED.has(name) ? name + "Model" : name;
}

/** A doc comment's text: no comment terminator inside, trimmed, long text cut. */
const docText = (s: string, max = 2000) => (s.length > max ? s.slice(0, max) + " ..." : s).replace(/\*\//g, "*\u2215").trim();

/** dim k of a bounded module's slot, when it varies: its expression of the symbols (runtime/dims.ts) */
const varying = (slot: TensorSlot, k: number): DimExpr | undefined => (slot.expr && typeof slot.expr[k] !== "number" ? slot.expr[k] : undefined);

/** "[batch=1, 3, 224, 224]"; a varying dim with its range: "[1, seq=1..512, 384]" */
function dimsDoc(slot: TensorSlot, declared: readonly (number | string)[] | undefined, symbols: readonly SymbolInfo[]): string {
  const mins = symbols.map((s) => s.min);
  return `[${slot.dims.map((d, k) => {
    const e = varying(slot, k);
    // a symbol with a step (W: [32, 640, 8]): the dim's own step, its coefficient in those units
    const step = Array.isArray(e) && e.length === 1 && e[0].length === 2 && (symbols[e[0][1]].step ?? 1) > 1 ? e[0][0] : 1;
    if (e !== undefined) return `${formatDim(e, symbols)}=${evalDim(e, mins)}..${d}${step > 1 ? ` in steps of ${step}` : ""}`;
    return typeof declared?.[k] === "string" ? `${declared[k]}=${d}` : String(d);
  }).join(", ")}]`;
}

/** "readonly [batch: 1, 3, 224, 224]" (a labelled tuple needs every element labelled); a varying dim is a number */
function dimsType(slot: TensorSlot, declared: readonly (number | string)[] | undefined): string {
  const named = declared?.some((d) => typeof d === "string") && declared.length === slot.dims.length;
  const type = (d: number, k: number) => (varying(slot, k) !== undefined ? "number" : String(d));
  if (!named) return `readonly [${slot.dims.map(type).join(", ")}]`;
  const used = new Set<string>();
  const label = (d: number | string, k: number) => {
    let l = typeof d === "string" && IDENT.test(d) && !RESERVED.has(d) ? d : `d${k}`;
    while (used.has(l)) l += "_";
    used.add(l);
    return l;
  };
  return `readonly [${slot.dims.map((d, k) => `${label(declared![k], k)}: ${type(d, k)}`).join(", ")}]`;
}

/** The typed array a dtype's data comes in (float16 and bfloat16 as their bits, 4- and 2-bit types packed in bytes). */
const arrayType = (dt: DTypeName) => dtype(dt).array.name;

function storageNote(dt: DTypeName): string {
  const info = dtype(dt);
  if (dt === "float16" || dt === "bfloat16") return `; ${dt} as its bits (runtime encodeElements / decodeElements convert)`;
  if (info.bits < 8) return `; packed ${8 / info.bits} to a byte (runtime encodeElements)`;
  if (dt.startsWith("float8")) return "; float8 codes (runtime encodeElements)";
  if (dt === "bool") return "; 0 or 1";
  return "";
}

function modelDoc(m: Manifest): string[] {
  const info = m.model ?? {};
  const lines: string[] = [];
  lines.push(info.name ? `The model ${JSON.stringify(info.name)}, compiled by kiln.` : "A model compiled by kiln.");
  if (info.doc) lines.push("", docText(info.doc));
  const facts = [
    info.producer && `Producer: ${info.producer}.`,
    info.domain && `Domain: ${info.domain}.`,
    info.version !== undefined && `Model version: ${info.version}.`,
  ].filter((s): s is string => !!s);
  if (facts.length) lines.push("", facts.join(" "));
  const metadata = Object.entries(info.metadata ?? {});
  if (metadata.length) lines.push("", "Metadata:", ...metadata.map(([k, v]) => `- ${docText(k, 200)}: ${docText(v, 500)}`));
  const flops = m.layers.reduce((a, l) => a + (l.flops ?? 0), 0);
  lines.push("", `kiln ${m.kiln} artifact (format ${m.format}): ${m.layers.length} layers${flops ? `, ${(flops / 1e9).toFixed(3)} GFLOP per run` : ""}, ${m.features.join(" + ")}.`);
  return lines;
}

/** The bindings as a ts-morph source file (its own in-memory project). */
async function buildSource(m: Manifest, options: BindingsOptions): Promise<SourceFile> {
  const { Project, VariableDeclarationKind, QuoteKind, IndentationText } = await import("ts-morph");
  const project = new Project({ useInMemoryFileSystem: true, manipulationSettings: { quoteKind: QuoteKind.Double, indentationText: IndentationText.TwoSpaces } });
  const file = project.createSourceFile("model.ts");
  const name = className(options.name ?? m.model?.name);
  const Inputs = `${name}Inputs`, Outputs = `${name}Outputs`;
  const declared = m.model?.declared ?? {};
  const docs = m.model?.docs ?? {};
  const bounded = m.symbols ?? [];
  // the dims a feed gives, and the data-dependent ones a layer writes
  const given = bounded.filter((b) => b.layer === undefined), written = bounded.filter((b) => b.layer !== undefined);
  const elements = (s: TensorSlot) => (s.expr?.some((e) => typeof e !== "number") ? `at most ${sizeOf(s.dims)}` : String(sizeOf(s.dims)));

  file.addImportDeclaration({
    moduleSpecifier: options.runtime ?? "kiln/runtime",
    namedImports: ["createSession", { name: "Feeds", isTypeOnly: true }, { name: "Session", isTypeOnly: true }, { name: "SessionOptions", isTypeOnly: true }],
  });

  file.addInterface({
    name: Inputs,
    isExported: true,
    docs: [`The inputs of {@link ${name}.run}: each a ${"`"}${"Float32Array`"} (or the typed array of its dtype) of the compiled dims' size, or \`{ data, dims }\`.`],
    properties: m.inputs.map((s) => ({
      name: propertyName(s.name),
      isReadonly: true,
      type: `${arrayType(s.dtype)} | { readonly data: ${arrayType(s.dtype)}; readonly dims?: ${dimsType(s, declared[s.name])} }`,
      docs: [`${s.dtype} ${dimsDoc(s, declared[s.name], bounded)}: ${elements(s)} elements${storageNote(s.dtype)}.${docs[s.name] ? ` ${docText(docs[s.name], 500)}` : ""}`],
    })),
  });

  file.addInterface({
    name: Outputs,
    isExported: true,
    docs: [`What {@link ${name}.run} returns: each output's dtype, dims and data (a copy, yours to keep).`],
    properties: m.outputs.map((s) => ({
      name: propertyName(s.name),
      isReadonly: true,
      type: `{ readonly dtype: ${JSON.stringify(s.dtype)}; readonly dims: [${s.dims.map((d, k) => (varying(s, k) !== undefined ? "number" : d)).join(", ")}]; readonly data: ${arrayType(s.dtype)} }`,
      docs: [`${s.dtype} ${dimsDoc(s, undefined, bounded)}${storageNote(s.dtype)}.${docs[s.name] ? ` ${docText(docs[s.name], 500)}` : ""}`],
    })),
  });

  // the dims the ONNX model named, with the values this artifact was compiled for (bounds: [min, max])
  const symbols = new Map<string, string>();
  for (const s of m.inputs) {
    (declared[s.name] ?? []).forEach((d, k) => {
      const e = varying(s, k);
      if (typeof d === "string") symbols.set(d, e === undefined ? String(s.dims[k]) : JSON.stringify(formatDim(e, bounded)));
    });
  }
  for (const b of bounded) symbols.set(b.name, b.step ? `[${b.min * b.step}, ${b.max * b.step}, ${b.step}]` : `[${b.min}, ${b.max}]`);
  if (symbols.size) {
    file.addVariableStatement({
      isExported: true,
      declarationKind: VariableDeclarationKind.Const,
      docs: [[
        given.length
          ? "The model's symbolic dims: a pinned one's value, a bounded one's [min, max] or [min, max, step] (this artifact runs any value in them; kiln compile --shape seq=1..512 or H=64..640:32 gives them), one computed from them its expression."
          : "The model's symbolic dims and the values this artifact was compiled for (kiln compile --shape binds them; another value needs another compile, or bounds: --shape seq=1..512).",
        ...(written.length ? [`${listed(written.map((b) => b.name))}: [0, most], a count the model's layers give as it runs (the outputs have that many rows), not a feed's.`] : []),
      ].join(" ")],
      declarations: [{ name: "dims", initializer: `{ ${[...symbols].map(([k, v]) => `${propertyName(k)}: ${v}`).join(", ")} } as const` }],
    });
  }

  // a varying dim as its expression of the symbols ("seq", "past+seq")
  const slotDims = (s: TensorSlot) => s.dims.map((d, k) => { const e = varying(s, k); return e === undefined ? d : JSON.stringify(formatDim(e, bounded)); });
  const slotList = (slots: readonly TensorSlot[]) => `[${slots.map((s) => `{ name: ${JSON.stringify(s.name)}, dtype: ${JSON.stringify(s.dtype)}, dims: [${slotDims(s).join(", ")}] }`).join(", ")}] as const`;
  file.addVariableStatements([
    { isExported: true, declarationKind: VariableDeclarationKind.Const, docs: ["The inputs' names, dtypes and dims (a varying one named by its expression), in the model's order."], declarations: [{ name: "inputs", initializer: slotList(m.inputs) }] },
    { isExported: true, declarationKind: VariableDeclarationKind.Const, docs: ["The outputs' names, dtypes and dims (a varying one named by its expression), in the model's order."], declarations: [{ name: "outputs", initializer: slotList(m.outputs) }] },
    {
      isExported: true,
      declarationKind: VariableDeclarationKind.Const,
      docs: ["Where the compiled model is, next to this module (a file: URL in Node, an http(s): URL in a page)."],
      declarations: [{ name: "artifactUrl", initializer: `new URL(${JSON.stringify(options.artifact)}, import.meta.url)` }],
    },
  ]);

  file.addTypeAlias({
    name: "ArtifactSource",
    isExported: true,
    docs: ["What {@link " + name + ".load} takes: the artifact's bytes, a fetch() Response (or its promise), a compiled WebAssembly.Module, or where to read it."],
    type: "Uint8Array | ArrayBuffer | Response | Promise<Response> | WebAssembly.Module | URL | string",
  });

  file.addFunction({
    name: "readArtifact",
    isAsync: true,
    docs: ["A URL or path as bytes: read from disk for file: URLs (Node), fetched otherwise."],
    parameters: [{ name: "source", type: "URL | string" }],
    returnType: "Promise<Uint8Array | Response>",
    statements: (w) => {
      w.writeLine("const url = typeof source === \"string\" ? new URL(source, import.meta.url) : source;");
      w.write("if (url.protocol === \"file:\")").block(() => {
        w.writeLine("// a specifier in a variable: bundlers for the browser leave it alone");
        w.writeLine("const fsModule = \"node:fs/promises\";");
        w.writeLine("const fs = (await import(fsModule)) as { readFile(path: URL): Promise<Uint8Array> };");
        w.writeLine("return new Uint8Array(await fs.readFile(url));");
      });
      w.writeLine("return fetch(url);");
    },
  });

  file.addClass({
    name,
    isExported: true,
    docs: modelDoc(m).length ? [modelDoc(m).join("\n")] : [],
    ctors: [{ scope: undefined, parameters: [{ name: "session", type: "Session", isReadonly: true }], docs: ["Use {@link " + name + ".load}."] }],
    methods: [
      {
        name: "load",
        isStatic: true,
        isAsync: true,
        docs: ["Load the compiled model: by default the artifact next to this module (`artifactUrl`). Options are createSession's (`proxy: true` runs it in a worker)."],
        parameters: [{ name: "source", type: "ArtifactSource", initializer: "artifactUrl" }, { name: "options", type: "SessionOptions", hasQuestionToken: true }],
        returnType: `Promise<${name}>`,
        statements: (w) => {
          w.writeLine("const artifact = source instanceof URL || typeof source === \"string\" ? await readArtifact(source) : source;");
          w.writeLine(`return new ${name}(await createSession(artifact, options));`);
        },
      },
      {
        name: "run",
        isAsync: true,
        docs: ["Run the model once on `inputs`; a missing or unknown input, a wrong dtype or wrong dims is a type error here and a KilnError (BAD_INPUT) at run time."],
        parameters: [{ name: "inputs", type: Inputs }],
        returnType: `Promise<${Outputs}>`,
        statements: [`return (await this.session.run(inputs as unknown as Feeds)) as unknown as ${Outputs};`],
      },
    ],
  });
  // the constructor's parameter is a property: `constructor(readonly session: Session)`
  const ctor = file.getClassOrThrow(name).getConstructors()[0];
  ctor.getParameters()[0].setIsReadonly(true);

  file.addFunction({
    name: "load",
    isExported: true,
    docs: [`Shorthand for {@link ${name}.load}.`],
    parameters: [{ name: "source", type: "ArtifactSource", hasQuestionToken: true }, { name: "options", type: "SessionOptions", hasQuestionToken: true }],
    returnType: `Promise<${name}>`,
    statements: [`return ${name}.load(source ?? artifactUrl, options);`],
  });
  file.addExportAssignment({ isExportEquals: false, expression: name });
  file.insertStatements(0, (w) => w.writeLine(`// Generated by kiln (kiln compile --emit-ts) from the manifest of ${options.artifact}: do not edit; regenerate it after recompiling.`));
  file.formatText({ indentSize: 2 });
  return file;
}

/** The bindings' TypeScript source. */
export async function generateBindings(m: Manifest, options: BindingsOptions): Promise<string> {
  return (await buildSource(m, options)).getFullText();
}

/** The bindings compiled (by ts-morph's TypeScript) to an ES module and its declarations, for a package. */
export async function emitBindings(m: Manifest, options: BindingsOptions): Promise<{ ts: string; js: string; dts: string }> {
  const source = await buildSource(m, options);
  const { ts } = await import("ts-morph");
  const project = source.getProject();
  project.compilerOptions.set({ target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022, declaration: true, strict: true, skipLibCheck: true, noResolve: true, lib: ["lib.es2022.d.ts", "lib.dom.d.ts"] });
  const out = project.emitToMemory({ targetSourceFile: source }).getFiles();
  const js = out.find((f) => f.filePath.endsWith(".js"))?.text;
  const dts = out.find((f) => f.filePath.endsWith(".d.ts"))?.text;
  if (js === undefined || dts === undefined) throw new Error("ts-morph emitted no JavaScript or declarations for the bindings");
  return { ts: source.getFullText(), js, dts };
}
