/**
 * An error answered the way RFC 6749 §5.2 says (token and revocation
 * endpoints): 400 with {"error","error_description"}, except invalid_client,
 * which is 401 with a WWW-Authenticate challenge for HTTP Basic.
 */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'unsupported_token_type';

export class OAuthError extends Error {
  readonly error: OAuthErrorCode;
  constructor(error: OAuthErrorCode, description: string) {
    super(description);
    this.name = 'OAuthError';
    this.error = error;
  }

  get status(): number {
    return this.error === 'invalid_client' ? 401 : 400;
  }
}
