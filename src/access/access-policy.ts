import { PermissionDeniedError, QuotaExceededError, UnauthenticatedError } from "../errors.js";
import { permissionOf, roleGrants } from "./permissions.js";
import { RateLimiter, StreamCounter } from "./rate-limiter.js";
import { hashToken, type Principal } from "./tokens.js";

export interface AccessPolicyOptions {
  /** Token hashes and who they belong to; undefined turns authentication off. */
  tokens: ReadonlyMap<string, Principal> | undefined;
  /** Calls per second per caller; 0 turns rate limiting off. */
  rateLimitPerSecond: number;
  /** The largest burst a caller may make above its rate. */
  rateLimitBurst: number;
  /** How many streams one caller may have open at once. */
  maxStreamsPerCaller: number;
}

/** Who is calling: the token's name when authenticated, else the peer's address. */
export interface Caller {
  id: string;
  principal: Principal | undefined;
}

/**
 * Decides whether a call of CostTrackingService may proceed: who the caller is (a bearer token, checked by its
 * SHA-256 hash), whether the caller's role allows the method, and whether the caller is within its rate and its
 * number of open streams. Pure: the gRPC interceptor in access.rpc.ts applies it.
 */
export class AccessPolicy {
  private readonly rateLimiter: RateLimiter | undefined;
  private readonly streams: StreamCounter;

  constructor(private readonly options: AccessPolicyOptions) {
    this.rateLimiter =
      options.rateLimitPerSecond > 0 ? new RateLimiter(options.rateLimitPerSecond, options.rateLimitBurst) : undefined;
    this.streams = new StreamCounter(options.maxStreamsPerCaller);
  }

  get authenticationEnabled(): boolean {
    return this.options.tokens !== undefined;
  }

  /** Identifies and authorises a caller for a method; throws UNAUTHENTICATED, PERMISSION_DENIED or RESOURCE_EXHAUSTED. */
  admit(method: string, authorization: string | undefined, peer: string): Caller {
    const caller = this.identify(authorization, peer);
    if (caller.principal && !roleGrants(caller.principal.role, permissionOf(method))) {
      throw new PermissionDeniedError(`${caller.principal.role} "${caller.principal.name}" may not call ${method}`, {
        method,
        role: caller.principal.role,
      });
    }
    const waitMs = this.rateLimiter?.take(caller.id) ?? 0;
    if (waitMs > 0) {
      throw new QuotaExceededError(
        `rate limit of ${this.options.rateLimitPerSecond} calls per second exceeded; retry in ${waitMs} ms`,
        "RATE_LIMITED",
        caller.id,
        waitMs,
        { limit_per_second: String(this.options.rateLimitPerSecond) },
      );
    }
    return caller;
  }

  /** Counts an open stream for the caller; throws RESOURCE_EXHAUSTED at the limit. Pair with closeStream. */
  openStream(caller: Caller): void {
    if (!this.streams.tryOpen(caller.id)) {
      throw new QuotaExceededError(
        `at most ${this.options.maxStreamsPerCaller} streams may be open at once per caller; close one first`,
        "TOO_MANY_STREAMS",
        caller.id,
        undefined,
        { limit: String(this.options.maxStreamsPerCaller) },
      );
    }
  }

  closeStream(caller: Caller): void {
    this.streams.close(caller.id);
  }

  private identify(authorization: string | undefined, peer: string): Caller {
    if (!this.options.tokens) return { id: peerHost(peer), principal: undefined };
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    if (!match) throw new UnauthenticatedError('missing bearer token: send metadata "authorization: Bearer <token>"');
    const principal = this.options.tokens.get(hashToken(match[1]!));
    if (!principal) throw new UnauthenticatedError("unknown or revoked bearer token");
    return { id: `token:${principal.name}`, principal };
  }
}

/** "ipv4:127.0.0.1:5678" or "ipv6:[::1]:5678" -> the host part, so all of one host's connections share limits. */
function peerHost(peer: string): string {
  return peer.replace(/:\d+$/, "");
}
