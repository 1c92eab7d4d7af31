// What a wg-quick hub's PostUp/PostDown commands do, in porthole's terms: a DNAT that becomes a
// forward, a rule porthole writes itself (SNAT into the tunnel, FORWARD accepts, ip_forward), or
// something porthole does not do (listed for the user, never dropped silently).

/** One shell command of a hook, split into words (wg-quick runs hooks through bash). */
export type Words = string[];

/** A `-t nat -A PREROUTING … -j DNAT` rule, as data. */
export interface Dnat {
  protos: ("tcp" | "udp")[];
  /** Public ports: "80", "6000-6010" (iptables' `6000:6010`), or several from `--dports 80,443`. */
  ports: string[];
  inInterface?: string;
  toAddress: string;
  /** "8080", "6000-6010", or undefined when the DNAT keeps the port. */
  toPort?: string;
}

export type Hook =
  | { kind: "dnat"; dnat: Dnat }
  | { kind: "snat-into-tunnel" }
  | { kind: "porthole-does-this"; what: string }
  | { kind: "not-carried"; why?: string };

/** Splits a hook line into commands at `;`, `&&` and `||`, and each command into words (quotes kept whole). */
export function splitHook(line: string): Words[] {
  const commands: Words[] = [];
  let words: string[] = [];
  let word = "";
  let quote: string | undefined;
  let inWord = false;
  const endWord = () => {
    if (inWord) words.push(word);
    word = "";
    inWord = false;
  };
  const endCommand = () => {
    endWord();
    if (words.length) commands.push(words);
    words = [];
  };
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] as string;
    if (quote) {
      if (ch === quote) quote = undefined;
      else word += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) endWord();
    else if (ch === ";") endCommand();
    else if ((ch === "&" || ch === "|") && line[i + 1] === ch) {
      endCommand();
      i++;
    } else {
      word += ch;
      inWord = true;
    }
  }
  endCommand();
  return commands;
}

const IPTABLES = /^(ip6?tables)(-legacy|-nft)?$/;

/** The options of an iptables command line, `!` negations kept as `!name`. */
function iptablesOptions(words: Words): Map<string, string> | undefined {
  const args = words[0] === "sudo" ? words.slice(1) : words;
  const bin = args[0]?.split("/").at(-1) ?? "";
  if (!IPTABLES.test(bin)) return undefined;
  const opts = new Map<string, string>([["bin", bin]]);
  let negate = false;
  for (let i = 1; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "!") {
      negate = true;
      continue;
    }
    if (!a.startsWith("-")) continue;
    const next = args[i + 1];
    const value = next !== undefined && !next.startsWith("-") && next !== "!" ? next : "";
    const key = ALIASES[a] ?? a.replace(/^-+/, "");
    opts.set(negate ? `!${key}` : key, value);
    if (value) i++;
    negate = false;
  }
  return opts;
}

const ALIASES: Record<string, string> = {
  "-t": "table",
  "--table": "table",
  "-A": "chain",
  "--append": "chain",
  "-I": "chain",
  "--insert": "chain",
  "-D": "chain",
  "--delete": "chain",
  "-i": "in",
  "--in-interface": "in",
  "-o": "out",
  "--out-interface": "out",
  "-p": "proto",
  "--protocol": "proto",
  "-s": "source",
  "--source": "source",
  "-d": "destination",
  "--destination": "destination",
  "-j": "jump",
  "--jump": "jump",
  "--to": "to-destination",
  "--destination-port": "dport",
  "--destination-ports": "dports",
};

/**
 * Classifies one hook command of a hub whose tunnel interface is `tunnel` (wg-quick's `%i`
 * already replaced). Pure; the reasons are for a person reading the import's notes.
 */
export function classifyHook(words: Words, tunnel: string): Hook {
  const joined = words.join(" ");
  if (/\bip_forward\b/.test(joined) && /(=|\s)1\b/.test(joined))
    return { kind: "porthole-does-this", what: "IP forwarding" };
  const o = iptablesOptions(words);
  if (!o) return { kind: "not-carried" };
  const table = o.get("table") ?? "filter";
  const chain = o.get("chain") ?? "";
  const jump = o.get("jump") ?? "";
  if (table === "nat" && chain === "PREROUTING" && jump === "DNAT") return dnatOf(o);
  if (table === "nat" && chain === "POSTROUTING" && (jump === "SNAT" || jump === "MASQUERADE")) {
    if (o.get("out") === tunnel) return { kind: "snat-into-tunnel" };
    return {
      kind: "not-carried",
      why: "NAT of peers' own traffic out of the hub (the hub as their internet gateway); porthole forwards public ports to peers and does not route peers' internet traffic",
    };
  }
  if (
    table === "filter" &&
    chain === "FORWARD" &&
    jump === "ACCEPT" &&
    (o.get("in") === tunnel || o.get("out") === tunnel)
  )
    return {
      kind: "porthole-does-this",
      what: "FORWARD accepts for the tunnel (porthole's forward chain admits forwarded connections and, with hub.mesh, peer-to-peer traffic)",
    };
  if (table === "filter" && chain === "INPUT" && jump === "ACCEPT")
    return {
      kind: "not-carried",
      why: "porthole adds no INPUT accepts; keep your firewall's rule for the WireGuard port (porthole apply and status say when something drops it)",
    };
  return { kind: "not-carried" };
}

function dnatOf(o: Map<string, string>): Hook {
  const proto = o.get("proto");
  const to = o.get("to-destination") ?? "";
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d+(?:-\d+)?))?$/.exec(to);
  const ports = o.get("dports")?.split(",") ?? (o.get("dport") ? [o.get("dport") as string] : []);
  if (
    (proto !== "tcp" && proto !== "udp") ||
    !m ||
    !ports.length ||
    [...o.keys()].some((k) => k.startsWith("!"))
  )
    return {
      kind: "not-carried",
      why: "a DNAT porthole cannot express as a forward (it needs -p tcp|udp, --dport and --to-destination ADDRESS[:PORT])",
    };
  return {
    kind: "dnat",
    dnat: {
      protos: [proto],
      ports: ports.map((p) => p.replace(":", "-")),
      ...(o.get("in") ? { inInterface: o.get("in") as string } : {}),
      toAddress: m[1] as string,
      ...(m[2] ? { toPort: m[2] } : {}),
    },
  };
}
