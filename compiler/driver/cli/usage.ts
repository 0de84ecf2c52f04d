// kiln --help: kept apart from the commands so that printing it loads nothing else.
export const USAGE = `kiln — compile ONNX models to SIMD WebAssembly

usage:
  kiln compile model.onnx -o model.wasm [--emit-ts] [--shape name=AxB ...] [-O0|-O1|-O2] [--simd auto|baseline|relaxed] [--threads N]
               [--report R.json] [--time-passes] [--quiet] [--prepack] [--weights model.bin] [--memory-budget 256MB]
               [--dump-after=all|p1,p2] [--dump-before=...] [--dump-dir D] [--dump-format text,dot,onnx]
               [--quantize int8|int4|w8a8] [--calibrate DIR ...] [--quantize-eval DIR ...] [--quantize-threshold X] [--quantize-target X]
  kiln compile model.wasm --emit-ts [-o model.ts]    typed bindings (TypeScript) for a compiled model
               [--name ClassName] [--runtime-import kiln/runtime]
  kiln inspect model.wasm [--json]     an artifact's manifest: inputs, outputs, layers and kernel variants, sizes, features
  kiln inspect model.onnx [--shape ...] [-O0|-O1|-O2] [--after PASS] [--time-passes] [--all-constants]    the IR
  kiln opt IR.txt|- --passes p1,p2{option=value} [-o OUT.txt] [--time-passes] [--verify-each]
               IR text in, IR text out (like mlir-opt): the named passes, in order
  kiln run model.onnx|model.wasm [--shape name=AxB ...] [--input name=arange|random|ones|zeros|file.pb ...]
                                 [--data test_data_set_DIR] [--simd auto|baseline|relaxed] [--threads N|auto] [--json]
                                 [--profile trace.json] [--save DIR] [--weights model.bin] [--memory-budget 256MB]
  kiln pack model.onnx|model.wasm -o DIR [--target npm|worker] [--name NAME] [--shape ...] [-O0|-O1|-O2] [--simd ...] [--quiet]
               npm: a package (ESM entry with typed bindings and .d.ts, the .wasm, kiln's runtime);
               worker: a Cloudflare Workers module (fetch handler, runtime, .wasm; wrangler.toml, workerd.capnp)
  kiln serve model.wasm|model.onnx [--port 8080] [--host 127.0.0.1] [--workers N]
               HTTP on one machine, a pool of N worker threads: POST /run with JSON or binary tensors, GET / the model
  kiln bench model.onnx --vs ort-web[,ort-node] [--threads N] [--shape ...] [--runs R] [--simd baseline|relaxed|auto]
               [--input random|arange | --input name=random|arange|ones|zeros|file.pb ...] [--data test_data_set_DIR]
               [--int-range [name=]LO..HI ...] [--load-runs N] [--atol A] [--rtol R] [--json]
               --atol/--rtol: how close kiln's outputs must be to the rival's (default rtol 1e-3, atol 1e-4)
  kiln bench decoder.onnx --generate N [--prompt 5,17,300] [--shape past=0..240 --shape total=past+seq ...] [--runs R] [--threads N]
               the greedy generation loop (past key/values fed back), per-token latency against the rivals
  kiln test DIR... [--json] [-O0|-O1|-O2] [--simd baseline|relaxed|auto] [--atol A] [--rtol R]
               ONNX test-data folders (model.onnx + test_data_set_*/); --atol/--rtol: every output,
               integer ones too, within A + R * |expected| (quantized models)

options:
  --emit-ts    also write model.ts beside model.wasm: a typed run() (inputs by name, the typed array of
               each dtype, dims as types, the model's doc_string and metadata as doc comments)
  --profile    write a Chrome trace (open in Perfetto or chrome://tracing): one slice per layer with its
               ops, kernel variant, ms, GFLOPS and weight bytes, for a first and a second run
  --kernels    kernel variants to force or forbid: -winograd, +im2col-gemm,-depthwise-lanes (a name
               or a prefix up to a dash; also KILN_KERNELS). --report lists each layer's variant
  --quantize   kiln's own quantization of a float model: int8 / int4 weight-only (MatMul, Gemm as
               MatMulNBits), w8a8 static (Conv, MatMul, Gemm on int8 kernels; needs --calibrate).
               --calibrate: test_data_set folders, a folder of them, or .pb files (repeatable);
               --quantize-eval: inputs not calibrated on, for --report's accuracy (default: 2 random);
               --quantize-threshold: a layer whose output error (relative L2) is over it stays float
               --quantize-target (w8a8): the model's output error on the calibration inputs the layers
               kept float bring it within, the int8 build measured (default 0.03; 0: each layer's own error decides)
  --verify-each  run the IR verifier after every pass (also KILN_VERIFY_EACH=1)
  --simd       auto (default): compile's artifact runs everywhere and carries a relaxed-SIMD build
               (f32x4.relaxed_madd) the runtime picks where the engine validates it; run uses the
               relaxed build where it can. baseline: SIMD128 only. relaxed: relaxed only (Node 20
               needs --experimental-wasm-relaxed-simd). bench: relaxed/auto add a relaxed kiln row.
  --threads    compile: a threaded module for up to N threads (shared memory; big layers split among
               the threads, --report says which). run: run on N threads (an .onnx is compiled for
               them; a .wasm must have been compiled with --threads). bench: kiln and the rivals on
               N threads. Pages need cross-origin isolation (docs/THREADS.md)
  --load-runs  bench: each engine's load time is the median of N fresh processes (default 3);
               0 times one load per engine in the benchmark's own process
  --prepack    compile, pack: ship the kernels' packed and transformed weights ready (the fastest load,
               a larger file: Winograd's form is up to 4x a 3x3 filter bank); by default each weight is
               stored once, as the model gives it, and the module derives those forms as it places them
               (--weights and --memory-budget imply it)
  --weights    compile: the weights go to this file beside the .wasm (code and manifest stay in the
               .wasm; each layer's pieces are read from the file as the first run reaches it);
               run: where that file is (default: the name the .wasm records, beside it)
  --memory-budget  bytes of linear memory the weights may take (KB, MB, GB: powers of 1024): each
               layer's weights are read from the weights file into slots that size before it runs, on
               every run (compile: the weights go to --weights, default model.bin beside model.wasm)
  --quiet      no summary line, and no progress (shown on a terminal for compiles over a second)
  --verbose    print stack traces with errors
  --help       this text`;
