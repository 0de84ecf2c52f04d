// Every hostile case, by group. A new group: a file beside these exporting HostileCase[], listed here.
import type { HostileCase } from "../case.js";
import { FEED_CASES, LIMIT_CASES, OPTION_CASES } from "./api.js";
import { CLI_CASES } from "./cli.js";
import { MODEL_CASES } from "./models.js";
import { PATH_CASES } from "./paths.js";
import { SIDECAR_CASES } from "./sidecar.js";

export const CASES: readonly HostileCase[] = [...PATH_CASES, ...CLI_CASES, ...MODEL_CASES, ...OPTION_CASES, ...FEED_CASES, ...LIMIT_CASES, ...SIDECAR_CASES];
