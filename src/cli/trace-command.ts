// porthole trace PORT[:PROTO]: what the hub's kernel does with each packet of a public port, live.
import type { Command } from "commander";
import { iptablesFlavour, legacyTables } from "../host/foreign.ts";
import { endOrphanTraces, listChainsJson, nftTables, startTrace, type TraceSession } from "../host/trace.ts";
import type { Spec } from "../spec/types.ts";
import { parseTraceLine } from "../trace/events.ts";
import { chainHooks, PacketAssembler, type TracedPacket } from "../trace/packets.ts";
import { renderPacket, summarize } from "../trace/render.ts";
import { traceScript, traceTable, traceTablePids } from "../trace/script.ts";
import { valid, wholeNumber } from "./arg.ts";
import { EXIT, UserError } from "./errors.ts";
import { hubSpecPath } from "./paths.ts";
import { onePort } from "./port-args.ts";
import { readSpec } from "./spec-file.ts";

/** A packet with no event for this long has ended somewhere the trace cannot see. */
const QUIET_MS = 1000;
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

function hubSpec(): Spec | null {
  try {
    return readSpec(hubSpecPath()).spec;
  } catch {
    return null;
  }
}

export function registerTraceCommand(program: Command): void {
  program
    .command("trace")
    .description(
      "show live what the hub's kernel does with each packet to a public port: chains, rules, DNAT, verdicts, SNAT, the interface out (nftables)",
    )
    .argument(
      "<PORT>",
      "the public port, with an optional protocol: 80, 53:udp, 27015:tcp+udp",
      onePort("PORT"),
    )
    .option(
      "--count <n>",
      "stop after this many packets (1-1000000)",
      valid("--count", wholeNumber(1, 1_000_000)),
    )
    .option(
      "--seconds <s>",
      "stop after this many seconds (1-86400)",
      valid("--seconds", wholeNumber(1, 86_400)),
    )
    .option("--verbose", "also show rules that matched and let the packet go on (counters, the MSS clamp)")
    .action(
      async (
        target: ReturnType<ReturnType<typeof onePort>>,
        o: { count?: number; seconds?: number; verbose?: boolean },
      ) => {
        const count = o.count ?? null;
        const seconds = o.seconds ?? null;
        const spec = hubSpec();
        const forwards = (spec?.forwards ?? []).filter(
          (f) =>
            f.port.from <= target.port &&
            target.port <= f.port.to &&
            (target.protos === null || f.protos.some((p) => target.protos?.includes(p))),
        );
        const protos = target.protos ?? [...new Set(forwards.flatMap((f) => f.protos))].sort();
        if (!protos.length) protos.push("tcp");
        if (spec?.hub.firewall === "iptables" && (await iptablesFlavour()) === "legacy")
          throw new UserError(
            "trace needs nftables: this hub's firewall backend is iptables, and `iptables` here is iptables-legacy, whose rules nft's trace cannot see (and whose TRACE target logs to the kernel log only). Use `hub.firewall: nftables`, or iptables-nft (update-alternatives --set iptables /usr/sbin/iptables-nft), then apply again",
            EXIT.invalid,
          );
        const what2 = `${protos.join("+")}/${target.port}`;
        const names = forwards.map((f) => `${f.name} → ${f.peer}:${f.targetPort.from}`).join(", ");
        console.log(
          names
            ? `tracing ${what2} on this hub (forward ${names})`
            : `tracing ${what2} on this hub (no forward takes it${spec ? "" : ": the hub's spec could not be read"})`,
        );
        const legacy = (await legacyTables(4)) || (await legacyTables(6));
        const unseenHint = legacy
          ? "iptables-legacy tables are loaded here and nft's trace cannot see them: look at `iptables-legacy -S FORWARD` (Docker's DROP policy lives there); else routing or rp_filter stopped it"
          : "routing, rp_filter or a program outside nftables stopped it";

        // A trace killed with SIGKILL leaves its nft process (and so its table) until its next packet.
        const orphans = await endOrphanTraces(
          (await nftTables()).flatMap((t) => traceTablePids(t.replace(/^inet /, "")) ?? []),
        );
        if (orphans.length)
          console.log(
            `ended the nft process of an earlier trace that was killed (pid ${orphans.join(", ")})`,
          );
        const listing = await listChainsJson();
        const hooks = listing ? chainHooks(listing) : new Map<string, string>();
        let assembler: PacketAssembler | undefined;
        const seen: TracedPacket[] = [];
        let finish: () => void = () => {};
        const finished = new Promise<void>((r) => {
          finish = r;
        });
        const show = (ps: TracedPacket[]) => {
          for (const p of ps) {
            if (count !== null && seen.length >= count) break;
            seen.push(p);
            console.log(renderPacket(p, seen.length, { verbose: o.verbose, unseenHint }));
            if (count !== null && seen.length >= count) finish();
          }
        };
        // Ctrl-C, SIGTERM and SIGHUP end the trace as --seconds does: nft is stopped, the table goes.
        const onSignal = () => finish();
        for (const sig of SIGNALS) process.on(sig, onSignal);
        let session: TraceSession;
        try {
          session = await startTrace(
            (nftPid) => traceTable(process.pid, nftPid),
            (table) => traceScript(table, protos, target.port),
            (table) => {
              const a = new PacketAssembler(table, hooks);
              assembler = a;
              return (line) => {
                const e = parseTraceLine(line);
                if (e) show(a.push(e, Date.now()));
              };
            },
          );
        } catch (e) {
          for (const sig of SIGNALS) process.off(sig, onSignal);
          throw new UserError(`${(e as Error).message}\nnothing was changed`, EXIT.host);
        }
        const table = session.table;
        const packets = assembler as PacketAssembler;
        console.log(
          `(${seconds ? `for ${seconds} s` : "until Ctrl-C"}${count ? `, at most ${count} packet${count > 1 ? "s" : ""}` : ""}; table inet ${table} is removed when the trace ends)`,
        );
        const tick = setInterval(() => show(packets.flush(Date.now(), QUIET_MS)), 250);
        const timer = seconds ? setTimeout(finish, seconds * 1000) : undefined;
        let stopping = false;
        let nftEnded: string | null = null;
        void session.ended.then(({ code, stderr }) => {
          if (stopping) return;
          nftEnded = `nft ended on its own (exit ${code})${stderr.trim() ? `: ${stderr.trim()}` : ""}`;
          finish();
        });
        await finished;
        stopping = true;
        clearInterval(tick);
        clearTimeout(timer);
        await session.stop();
        for (const sig of SIGNALS) process.off(sig, onSignal);
        show(packets.end());
        const left = (await nftTables()).includes(`inet ${table}`);
        console.log(
          `${seen.length} packet${seen.length === 1 ? "" : "s"} traced${seen.length ? `: ${summarize(seen).join("; ")}` : ""}`,
        );
        if (left) {
          console.error(
            `porthole: table inet ${table} is still there after its nft process ended; see \`nft list table inet ${table}\``,
          );
          process.exitCode = EXIT.host;
        } else console.log(`table inet ${table} removed`);
        if (nftEnded) {
          console.error(`porthole: ${nftEnded}`);
          process.exitCode = EXIT.host;
        }
      },
    );
}
