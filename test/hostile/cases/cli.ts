// The command line: files that are missing or not what they claim, flags that do not exist or
// take other values. A usage mistake is BAD_OPTION (exit 2) naming what the command takes.
import { compile } from "../../../compiler/driver/api.js";
import { ADD, onnxOf, UNSUPPORTED, write, type HostileCase } from "../case.js";

const withAdd = (dir: string) => void write(dir, "add.onnx", ADD);
/** a 3x3 max pool over an image of free height and width */
const POOL = onnxOf(`kiln.graph opsets("" = 13)
input %x : float32[1,1,h,w]
%y : float32[1,1,h,w] = MaxPool[kernel_shape = [3, 3]](%x) {name="pool"}
output %y`);

export const CLI_CASES: HostileCase[] = [
  { name: "no-command", cli: [], code: "BAD_OPTION", message: /no command; the commands are compile, inspect, run/ },
  { name: "test-no-folder", cli: ["test"], code: "BAD_OPTION", message: /kiln test needs ONNX test folders/ },
  { name: "compile-dump-format-without-a-dump", make: withAdd, cli: ["compile", "add.onnx", "-o", "m.wasm", "--dump-format", "dot"], code: "BAD_OPTION", message: /--dump-format applies to the dumps --dump-before PASSES or --dump-after PASSES write; give one/ },
  { name: "inspect-prints-dot", make: withAdd, cli: ["inspect", "add.onnx", "--after", "fuse-epilogue", "--dump-format", "dot"], code: "ok", message: /^digraph "after fuse-epilogue" \{/ },
  { name: "inspect-prints-no-onnx", make: withAdd, cli: ["inspect", "add.onnx", "--dump-format", "onnx"], code: "BAD_OPTION", message: /kiln inspect prints the graph as text or dot/ },
  { name: "run-missing-file", cli: ["run", "nope.onnx"], code: "INVALID_MODEL", message: /model file "nope.onnx" does not exist/ },
  { name: "run-a-folder", make: (dir) => void write(dir, "sub/x", ""), cli: ["run", "sub"], code: "INVALID_MODEL", message: /is a folder, not a file/ },
  { name: "compile-missing-file", cli: ["compile", "nope.onnx", "-o", "x.wasm"], code: "INVALID_MODEL", message: /does not exist/ },
  { name: "inspect-missing-file", cli: ["inspect", "nope.onnx"], code: "INVALID_MODEL", message: /does not exist/ },
  { name: "opt-missing-file", cli: ["opt", "nope.txt", "--passes", "dce"], code: "INVALID_MODEL", message: /IR text file "nope.txt" does not exist/ },
  { name: "opt-not-ir-text", make: (dir) => void write(dir, "g.txt", "garbage\n"), cli: ["opt", "g.txt", "--passes", "dce"], code: "INVALID_MODEL", message: /IR text line 1/ },
  { name: "run-data-missing", make: withAdd, cli: ["run", "add.onnx", "--data", "/nonexistent"], code: "BAD_INPUT", message: /test data "\/nonexistent" does not exist/ },
  { name: "run-data-is-a-file", make: withAdd, cli: ["run", "add.onnx", "--data", "add.onnx"], code: "BAD_INPUT", message: /is not a folder/ },
  { name: "run-data-empty-folder", make: (dir) => { withAdd(dir); write(dir, "data/readme.txt", ""); }, cli: ["run", "add.onnx", "--data", "data"], code: "BAD_INPUT", message: /holds no input_K.pb or output_K.pb/ },
  { name: "run-input-file-missing", make: withAdd, cli: ["run", "add.onnx", "--input", "x=nope.pb"], code: "BAD_INPUT", message: /tensor file "nope.pb" does not exist/ },
  // the model is fine, the shape given too small for it: the node that says so, with its shapes
  { name: "run-shape-smaller-than-a-window", make: (dir) => void write(dir, "pool.onnx", POOL), cli: ["run", "pool.onnx", "--shape", "x=1x1x2x2"], code: "SHAPE_MISMATCH", message: /the window \(3\) is larger than the padded input \(2\) on spatial axis 0 \[node "pool", MaxPool opset 13, inputs float32\[1,1,2,2\]\]/ },
  { name: "run-input-empty-file", make: (dir) => { withAdd(dir); write(dir, "x.pb", ""); }, cli: ["run", "add.onnx", "--input", "x=x.pb"], code: "BAD_INPUT", message: /x\.pb is not a serialized TensorProto: it has no element type \(the file is empty\)/ },
  { name: "run-input-not-a-tensor", make: (dir) => { withAdd(dir); write(dir, "x.pb", "\xff\xff\xff"); }, cli: ["run", "add.onnx", "--input", "x=x.pb"], code: "BAD_INPUT", message: /not a serialized TensorProto/ },
  { name: "run-input-unknown-name", make: withAdd, cli: ["run", "add.onnx", "--input", "nope=ones"], code: "BAD_OPTION", message: /the model has no input "nope"/ },
  { name: "run-text-file-named-wasm", make: (dir) => void write(dir, "model.wasm", "hello, I am text\n"), cli: ["run", "model.wasm"], code: "INVALID_ARTIFACT", message: /not a WebAssembly module/ },
  // what a file holds decides, not its name: a kiln module named .onnx runs
  { name: "run-wasm-named-onnx", make: async (dir) => void write(dir, "add.onnx", (await compile(ADD)).wasm), cli: ["run", "add.onnx", "--json"], code: "ok", message: /"outputs":\[\{"name":"y","dims":\[2\]\}\]/ },
  {
    name: "run-truncated-wasm",
    make: async (dir) => void write(dir, "t.wasm", (await compile(ADD)).wasm.slice(0, 40)),
    cli: ["run", "t.wasm"],
    code: "INVALID_ARTIFACT",
  },
  {
    name: "run-wasm-with-compile-flags",
    make: async (dir) => void write(dir, "add.wasm", (await compile(ADD)).wasm),
    cli: ["run", "add.wasm", "--shape", "x=4"],
    code: "BAD_OPTION",
    message: /--shape applies only when kiln run compiles an .onnx model/,
  },
  // the output's folder is checked before compiling: the unsupported model would fail later
  { name: "compile-output-folder-missing", make: (dir) => void write(dir, "bad.onnx", UNSUPPORTED), cli: ["compile", "bad.onnx", "-o", "missing/dir/x.wasm"], code: "BAD_OPTION", message: /the folder .*missing\/dir does not exist/ },
  { name: "compile-output-is-a-folder", make: (dir) => { withAdd(dir); write(dir, "out/x", ""); }, cli: ["compile", "add.onnx", "-o", "out"], code: "BAD_OPTION", message: /is a folder; give a file name/ },
  { name: "compile-report-folder-missing", make: (dir) => void write(dir, "bad.onnx", UNSUPPORTED), cli: ["compile", "bad.onnx", "-o", "x.wasm", "--report", "missing/r.json"], code: "BAD_OPTION", message: /--report/ },
  { name: "compile-misspelled-flag", make: withAdd, cli: ["compile", "add.onnx", "-o", "x.wasm", "--dump-afer=all"], code: "BAD_OPTION", message: /no flag --dump-afer \(did you mean --dump-after\?\); its flags are .*--dump-after/ },
  { name: "compile-level-3", make: withAdd, cli: ["compile", "add.onnx", "-o", "x.wasm", "-O3"], code: "BAD_OPTION", message: /-O takes 0, 1 or 2/ },
  { name: "compile-level-fast", make: withAdd, cli: ["compile", "add.onnx", "-o", "x.wasm", "-Ofast"], code: "BAD_OPTION", message: /no flag -Ofast/ },
  { name: "compile-two-models", make: withAdd, cli: ["compile", "add.onnx", "add.onnx", "-o", "x.wasm"], code: "BAD_OPTION", message: /takes one file, got 2/ },
  { name: "compile-value-on-boolean-flag", make: withAdd, cli: ["compile", "add.onnx", "-o", "x.wasm", "--quiet=no"], code: "BAD_OPTION", message: /--quiet takes no value/ },
  { name: "cli-simd-fast", make: withAdd, cli: ["compile", "add.onnx", "-o", "x.wasm", "--simd", "fast"], code: "BAD_OPTION", message: /--simd takes auto, baseline, relaxed/ },
  { name: "cli-bad-shape", make: withAdd, cli: ["compile", "add.onnx", "-o", "x.wasm", "--shape", "x=2xfoo"], code: "BAD_OPTION", message: /dims must be non-negative integers/ },
  { name: "cli-unknown-kernel", make: withAdd, cli: ["compile", "add.onnx", "-o", "x.wasm", "--kernels=-winogrd"], code: "BAD_OPTION", message: /winogrd/ },
  { name: "compile-unknown-dump-pass", make: withAdd, cli: ["compile", "add.onnx", "-o", "x.wasm", "--dump-after=fuse"], code: "BAD_OPTION", message: /unknown pass "fuse"/ },
  { name: "run-unknown-flag", make: withAdd, cli: ["run", "add.onnx", "--frobnicate"], code: "BAD_OPTION", message: /kiln run has no flag --frobnicate; its flags are/ },
  { name: "test-missing-folder", make: (dir) => void write(dir, "case/model.onnx", ADD), cli: ["test", "case", "nope"], code: "BAD_INPUT", message: /not a folder: "nope"/ },
  { name: "test-flag-of-another-command", cli: ["test", ".", "--passes", "dce"], code: "BAD_OPTION", message: /kiln test has no flag --passes/ },
  { name: "inspect-unknown-pass", make: withAdd, cli: ["inspect", "add.onnx", "--after", "nope"], code: "BAD_OPTION", message: /unknown pass "nope"/ },
  { name: "bench-misspelled-flag", make: withAdd, cli: ["bench", "add.onnx", "--thread", "2"], code: "BAD_OPTION", message: /did you mean --threads/ },
  { name: "unknown-command", cli: ["frobnicate", "x"], code: "BAD_OPTION", message: /unknown command "frobnicate"/ },
];
