// Its own module so the CLI can show the default without loading the agent.

/** Past WireGuard's 2-minute rekey: a handshake this old means the hub has not answered for a while. */
export const STALE_HANDSHAKE_S = 135;
