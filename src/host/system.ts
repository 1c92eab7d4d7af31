// sysctl (through /proc/sys) and policy routing for transparent mode.
import { readFile, writeFile } from "node:fs/promises";
import { markText, type PolicyRouting } from "../plan/plan.ts";
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

interface RuleJson {
  priority?: number;
  fwmark?: string;
  fwmask?: string;
}

/** The rules that send to porthole's table (`ip -j rule show table T`), and which of them is the wanted one. */
async function tableRules(f: 4 | 6, r: PolicyRouting): Promise<{ rules: RuleJson[]; wanted: boolean }> {
  const out = await run(["ip", fam(f), "-j", "rule", "show", "table", String(r.table)], { allowFail: true });
  const rules = out.code === 0 && out.stdout.trim() ? (JSON.parse(out.stdout) as RuleJson[]) : [];
  const mark = `0x${r.fwmark.toString(16)}`;
  // State files of versions before marks were masked have no mask: their rule used the full mark, for
  // which `ip` shows no fwmask.
  const full = r.mask === undefined || r.mask === 0xffffffff;
  const mask = full ? undefined : `0x${r.mask.toString(16)}`;
  const wanted = rules.some((x) => x.fwmark === mark && x.fwmask === mask && x.priority === r.priority);
  return { rules, wanted };
}

/** Deletes every rule that looks up porthole's table (all of them porthole's: it owns the table). */
async function deleteTableRules(f: 4 | 6, r: PolicyRouting): Promise<void> {
  for (;;) {
    const del = await run(["ip", fam(f), "rule", "del", "lookup", String(r.table)], { allowFail: true });
    if (del.code !== 0) break;
  }
}

export const routingDriver: Host["routing"] = {
  /** True when each family has exactly the wanted rule (masked fwmark, priority) and the route. */
  observe: async (r: PolicyRouting) => {
    for (const f of r.families) {
      const { rules, wanted } = await tableRules(f, r);
      if (!wanted || rules.length !== 1) return false;
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
      const { rules, wanted } = await tableRules(f, r);
      // A rule of an older version (unmasked fwmark) or a duplicate: start over with the one wanted rule.
      if (wanted && rules.length === 1) continue;
      if (rules.length) await deleteTableRules(f, r);
      await run([
        "ip",
        fam(f),
        "rule",
        "add",
        "fwmark",
        markText(r),
        "lookup",
        String(r.table),
        "priority",
        String(r.priority),
      ]);
    }
  },
  remove: async (r) => {
    for (const f of r.families) {
      await deleteTableRules(f, r);
      await run(["ip", fam(f), "route", "flush", "table", String(r.table)], { allowFail: true });
    }
  },
};
