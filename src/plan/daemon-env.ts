/**
 * The environment the hub and peer daemons run with: the daemon unit's `Environment=` lines
 * (compile/systemd.ts) and the lab's daemons (lab/lab.ts), so a lab runs them as an install does.
 * Measured side by side in bench/daemon-memory.bench.ts (bench/README.md "daemon memory"):
 *
 * - NODE_OPTIONS `--max-semi-space-size=2 --max-old-space-size=512`: a young generation of 2 MiB
 *   semi-spaces instead of up to 16, and an old-generation limit of 512 MiB (node's own default on a
 *   2 GB machine; on a large one it is 4 GiB, which lets V8 grow the heap to 4 × its live size, not
 *   ~1.4 ×): at 10,000 forwards ~100 MiB RSS instead of 120-140, peak ~130 instead of 180-260, for ~7 %
 *   more CPU in a status call.
 * - `--v8-pool-size=1`: one V8 worker thread instead of 4 (GC and compile helpers; a hub is a small
 *   machine), ~5 MiB less.
 * - MALLOC_ARENA_MAX=2: glibc gives each thread that allocates its own malloc arena, and their free
 *   memory stays resident; two arenas hold ~5 MiB less.
 */
export const DAEMON_ENV: Readonly<Record<string, string>> = {
  NODE_OPTIONS: "--max-semi-space-size=2 --max-old-space-size=512 --v8-pool-size=1",
  MALLOC_ARENA_MAX: "2",
};
