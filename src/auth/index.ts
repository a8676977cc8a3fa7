/** Everything the gateway needs from auth. */
export { extractToken, upstreamProtocols, offeredProtocols, stripTokenFromUrl, stripTokenFromSearch, PROTOCOL_PREFIX } from './token.ts';
export type { TokenSource, TokenLocation, ExtractedToken } from './token.ts';
export { resolveAuth } from './config.ts';
export type { ResolvedAuth, AuthExtras, AuthEnv, JwksTuning, KeySource } from './config.ts';
export { createVerifier, parseToken } from './verify.ts';
export type { Verifier, VerifierDeps, VerifiedToken, HmacVerifierFactory } from './verify.ts';
export { JwksCache, getJwksCache, jwksStats, clearJwksRegistry } from './jwks.ts';
export type { JwksOptions, JwksStats } from './jwks.ts';
export { authError, authHeaders, REALM } from './errors.ts';
