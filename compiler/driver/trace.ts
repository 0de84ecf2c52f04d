// A profile as a Chrome trace (the JSON Trace Event Format that Perfetto and chrome://tracing
// open): one complete ("X") slice per layer on a run's track, named after the layer, with its
// ops, kernel variant, milliseconds, GFLOPS and weight bytes; the weights placed before a layer
// in the same run are slices of their own on a track beside it.
import type { LayerTiming } from "../../runtime/session.js";
import type { Manifest } from "../../runtime/manifest.js";

export interface TraceEvent {
  name: string;
  ph: "X" | "M";
  pid: number;
  tid: number;
  /** microseconds */
  ts?: number;
  dur?: number;
  cat?: string;
  args?: Record<string, unknown>;
}

export interface ChromeTrace {
  traceEvents: TraceEvent[];
  displayTimeUnit: "ms";
  otherData: Record<string, string | number>;
}

export interface ProfiledRun {
  /** the track's name: "first run (weights placed)", "run 2" */
  label: string;
  layers: LayerTiming[];
}

const us = (ms: number) => Math.round(ms * 1000 * 1000) / 1000;

/** The runs as one trace, one after the other on the time line (each run's layers on its own track). */
export function chromeTrace(manifest: Manifest, runs: readonly ProfiledRun[], about: Record<string, string | number> = {}): ChromeTrace {
  const pid = 1;
  const events: TraceEvent[] = [{ name: "process_name", ph: "M", pid, tid: 0, args: { name: `kiln ${manifest.model?.name ?? "model"}` } }];
  // the bytes the layer reads: its stored pieces and those the module derives (a compact artifact)
  const weightsOf = new Map(manifest.layers.map((l) => [l.name, [...l.weights, ...(l.derived ?? [])].reduce((a, w) => a + w[1], 0)]));
  let clock = 0;
  runs.forEach((run, r) => {
    const tid = 2 * r + 1;
    events.push({ name: "thread_name", ph: "M", pid, tid, args: { name: run.label } });
    let placing = false;
    for (const l of run.layers) {
      if (l.placedBytes > 0) {
        if (!placing) events.push({ name: "thread_name", ph: "M", pid, tid: tid + 1, args: { name: `${run.label}: weights placed` } });
        placing = true;
        events.push({ name: `weights of ${l.layer}`, cat: "weights", ph: "X", pid, tid: tid + 1, ts: us(clock), dur: us(l.placeMs), args: { layer: l.layer, bytes: l.placedBytes, ms: l.placeMs } });
        clock += l.placeMs;
      }
      events.push({
        name: l.layer, cat: "layer", ph: "X", pid, tid, ts: us(clock), dur: us(l.ms),
        args: {
          ops: l.op.split("_"),
          kernel: l.kernel,
          ms: Number(l.ms.toFixed(4)),
          gflops: l.flops && l.ms > 0 ? Number((l.flops / (l.ms * 1e6)).toFixed(3)) : null,
          flops: l.flops ?? null,
          weightBytes: weightsOf.get(l.layer) ?? 0,
          weightBytesPlaced: l.placedBytes,
        },
      });
      clock += l.ms;
    }
    clock += 1; // a visible gap between runs
  });
  return { traceEvents: events, displayTimeUnit: "ms", otherData: { kiln: manifest.kiln, ...about } };
}
