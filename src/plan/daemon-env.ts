/**
 * The environment the hub and peer daemons run with: the daemon unit's `Environment=` lines
 * (compile/systemd.ts) and the lab's daemons (lab/lab.ts), so a lab runs them as an install does.
 *
 * NODE_OPTIONS: a young generation of 2 MiB semi-spaces instead of up to 16, and an old-generation
 * limit of 512 MiB (node's own default on a 2 GB machine; on a large one it is 4 GiB, which lets V8 grow
 * the heap to 4 × its live size, not ~1.4 ×). The hub at 10,000 forwards then holds 95-100 MiB RSS
 * instead of 120-140, peak ~130 instead of 180-260, for ~7 % more CPU in a status call
 * (docs/design-notes.md, bench/README.md "daemon memory").
 */
export const DAEMON_ENV: Readonly<Record<string, string>> = {
  NODE_OPTIONS: "--max-semi-space-size=2 --max-old-space-size=512",
};
