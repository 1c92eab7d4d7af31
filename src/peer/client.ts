// A peer talks to the hub's API through the tunnel; the hub knows it by its tunnel address.
export class HubUnreachable extends Error {}
export class HubRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function hubRequest(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 5000,
): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    const cause = (e as Error).cause as NodeJS.ErrnoException | undefined;
    // Refused: the tunnel carried the request and the hub's kernel answered, but nothing listens.
    const why =
      cause?.code === "ECONNREFUSED"
        ? "the hub answered through the tunnel, but its API is not listening: the hub daemon is not running"
        : "the hub did not answer through the tunnel; its daemon may be down, or the tunnel is";
    throw new HubUnreachable(
      `${why} (${base}: ${cause?.code ?? cause?.message ?? (e as Error).message}); on the hub, \`porthole status\` shows the daemon's state`,
    );
  }
  const text = await res.text();
  const parsed = jsonOrText(text);
  if (!res.ok) throw new HubRefused(res.status, (parsed as { error?: string })?.error ?? text);
  return parsed;
}

/** The API answers JSON, except for the spec (plain text). */
export function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
