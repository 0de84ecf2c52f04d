// One of kiln serve's worker threads (piscina runs this module): a session of its own over the
// artifact it was given, answering requests with the runtime's HTTP protocol (runtime/serve.ts).
// Imports the runtime only.
import { workerData } from "node:worker_threads";
import { createSession, type Session } from "../../runtime/session.js";
import { handleRequest } from "../../runtime/serve.js";

export interface ServeTask {
  method: string;
  url: string;
  contentType: string;
  body: ArrayBuffer | undefined;
}

export interface ServeReply {
  status: number;
  headers: [string, string][];
  body: ArrayBuffer;
}

const { artifact, simd } = workerData as { artifact: Uint8Array; simd: "auto" | "baseline" | "relaxed" };
let session: Promise<Session> | undefined;

export default async function answer(task: ServeTask): Promise<ServeReply> {
  session ??= createSession(artifact, { simd });
  const request = new Request(task.url, { method: task.method, headers: { "content-type": task.contentType }, body: task.body });
  const response = await handleRequest(await session, request);
  return { status: response.status, headers: [...response.headers], body: await response.arrayBuffer() };
}
