/**
 * The secret of this process's local session: whoever can read it (the CLI in this process, or a
 * CLI reading `DATA_DIR/server.json`, mode 0600) could open the store file itself, so it is an
 * OS-level admin. Its requests name the OS user they run as; that name is recorded unverified
 * (`authenticated: false`). Kept apart from the authenticator so that the CLI can name it without
 * loading the server's modules.
 */
export interface LocalSession {
  readonly secret: string;
}
export const LOCAL_SESSION = Symbol('LocalSession');
/** The header a local-session request names its OS user in. */
export const LOCAL_USER_HEADER = 'x-topo-local-user';
