// sysctl (through /proc/sys) and policy routing for transparent mode.
import { readFile, writeFile } from "node:fs/promises";
import type { PolicyRouting } from "../compile/plan.ts";
import { run } from "./run.ts";
import type { Host } from "./types.ts";

const procPath = (key: string) => `/proc/sys/${key.replaceAll(".", "/")}`;

export const sysctlDriver: Host["sysctl"] = {
  get: async (key) => {
    try {
      return (await readFile(procPath(key), "utf8")).trim();
    } catch {
      return null;
    }
  },
  set: async (key, value) => {
    await writeFile(procPath(key), value);
  },
};

const fam = (f: 4 | 6) => (f === 4 ? "-4" : "-6");

export const routingDriver: Host["routing"] = {
  observe: async (r: PolicyRouting) => {
    for (const f of r.families) {
      const rules = await run(["ip", fam(f), "-j", "rule", "show", "table", String(r.table)], {
        allowFail: true,
      });
      if (rules.code !== 0 || !rules.stdout.includes(`"fwmark":"0x${r.fwmark.toString(16)}"`)) return false;
      const routes = await run(["ip", fam(f), "-j", "route", "show", "table", String(r.table)], {
        allowFail: true,
      });
      if (routes.code !== 0 || !routes.stdout.includes(`"dev":"${r.device}"`)) return false;
    }
    return true;
  },
  apply: async (r) => {
    for (const f of r.families) {
      await run(["ip", fam(f), "route", "replace", "default", "dev", r.device, "table", String(r.table)]);
      const rules = await run(["ip", fam(f), "-j", "rule", "show", "table", String(r.table)], {
        allowFail: true,
      });
      if (!rules.stdout.includes("fwmark")) {
        await run([
          "ip",
          fam(f),
          "rule",
          "add",
          "fwmark",
          `0x${r.fwmark.toString(16)}`,
          "lookup",
          String(r.table),
          "priority",
          String(r.priority),
        ]);
      }
    }
  },
  remove: async (r) => {
    for (const f of r.families) {
      for (;;) {
        const del = await run(
          ["ip", fam(f), "rule", "del", "fwmark", `0x${r.fwmark.toString(16)}`, "lookup", String(r.table)],
          {
            allowFail: true,
          },
        );
        if (del.code !== 0) break;
      }
      await run(["ip", fam(f), "route", "flush", "table", String(r.table)], { allowFail: true });
    }
  },
};
