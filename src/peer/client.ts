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
    throw new HubUnreachable(
      `the hub's API at ${base} did not answer (${(e as Error).cause ?? (e as Error).message})`,
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
