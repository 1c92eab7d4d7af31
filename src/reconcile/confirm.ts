// Try, then keep or revert (netplan's `try`): an apply made with --confirm stays only if `porthole
// confirm` runs before the deadline; otherwise the state applied before it comes back (or, when there
// was none, everything porthole made goes). The pending try is a file in the state directory, so the
// process that waits and the one that confirms agree without talking to each other.
import { join } from "node:path";
import type { Host } from "../host/types.ts";
import { loadSpec } from "../spec/load.ts";
import { apply, type Context, down } from "./reconcile.ts";
import { readApplied } from "./state.ts";

/** An apply waiting for `porthole confirm`: who waits (`pid`), and until when (`deadline`, ms since epoch). */
export interface PendingConfirm {
  /** Names this try: a waiter only reverts the try it was started for. */
  token: string;
  pid: number | undefined;
  deadline: number;
}

export const pendingFile = (stateDir: string) => join(stateDir, "pending-confirm.json");

async function readPending(host: Host, stateDir: string): Promise<PendingConfirm | null> {
  const text = await host.files.read(pendingFile(stateDir));
  return text ? (JSON.parse(text) as PendingConfirm) : null;
}

/** Records a try: until `confirmPending` runs, `revertUnconfirmed(ctx, pending.token)` undoes it. */
export async function armPending(host: Host, stateDir: string, pending: PendingConfirm): Promise<void> {
  await host.files.write(pendingFile(stateDir), `${JSON.stringify(pending)}\n`, 0o600);
}

/** Keeps the applied state: forgets the try and returns it (its waiter's pid), or null when none waits. */
export async function confirmPending(host: Host, stateDir: string): Promise<PendingConfirm | null> {
  const pending = await readPending(host, stateDir);
  if (pending) await host.files.remove(pendingFile(stateDir));
  return pending;
}

/**
 * At the deadline: when the try named `token` is still pending, re-applies the state from before it
 * (`down` when there was none) and forgets the try. Returns whether it reverted; a confirmed or newer
 * try is left alone.
 */
export async function revertUnconfirmed(ctx: Context, token: string): Promise<boolean> {
  const pending = await readPending(ctx.host, ctx.stateDir);
  if (pending?.token !== token) return false;
  const previous = await readApplied(ctx.host, ctx.stateDir, "previous");
  const loaded = previous ? loadSpec(previous.specText) : null;
  if (previous && loaded?.ok) {
    await apply(ctx, {
      spec: loaded.spec,
      specText: previous.specText,
      hostName: previous.host,
      confirming: true,
    });
  } else {
    await down(ctx);
  }
  await ctx.host.files.remove(pendingFile(ctx.stateDir));
  return true;
}
