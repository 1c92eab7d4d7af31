// The plan's types and marks live in src/plan/plan.ts, a leaf both compile/ and host/ import (host/
// must not reach into compile/); compile/ and its callers keep reading them from here.
export * from "../plan/plan.ts";
