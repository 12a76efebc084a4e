import type { Action } from "../../core/contracts.js";
import { createExecAction } from "./exec.js";

/** Declared action config, as the config schema yields it with durations in ms. */
export interface ActionSpec {
  type: "exec";
  argv: readonly string[];
  timeoutMs: number;
}

/** The explicit registry: one line per action type. */
export function createAction(spec: ActionSpec, baseEnv: Readonly<Record<string, string | undefined>>): Action {
  switch (spec.type) {
    case "exec":
      return createExecAction({ argv: spec.argv, timeoutMs: spec.timeoutMs, baseEnv });
  }
}
