import { ConfigError, DEFAULT_RATE_LIMIT, isLoopback, loadConfig } from '../../src/config/config';

describe('configuration of the door', () => {
  it('defaults: authentication on, the default rate limit, no OIDC', () => {
    expect(loadConfig({})).toMatchObject({ authentication: 'on', rateLimit: DEFAULT_RATE_LIMIT, oidc: undefined, host: '127.0.0.1' });
  });

  it.each([
    [{ AUTHENTICATION: 'off', HOST: '0.0.0.0' }, 'HOST', /must be a loopback address/],
    [{ AUTHENTICATION: 'maybe' }, 'AUTHENTICATION', /must be one of on, off/],
    [{ RATE_LIMIT: 'fast' }, 'RATE_LIMIT', /whole number/],
    [{ ADMIN_TOKEN: `topo_0123456789abcdef_${'x'.repeat(43)}` }, 'ADMIN_TOKEN', /must not have the form of a generated token/],
    [{ REASON_REQUIRED_FOR: 'StopPool;drop table' }, 'REASON_REQUIRED_FOR', /must list command names/],
    [{ OIDC_AUDIENCE: 'x' }, 'OIDC_AUDIENCE', /needs OIDC_ISSUER/],
    [{ LOG_FORMAT: 'xml' }, 'LOG_FORMAT', /must be one of json, pretty/],
    [{ METRICS_TOKEN: 'short' }, 'METRICS_TOKEN', /16 to 256 printable characters/],
    [{ METRICS_TOKEN: 'has a space in it 0123456789' }, 'METRICS_TOKEN', /without spaces/],
    [{ OIDC_ISSUER: 'https://idp', OIDC_JWKS_URL: 'https://idp/keys', OIDC_ROLE_MAP: 'a=admin' }, 'OIDC_AUDIENCE', /required/],
    [{ OIDC_ISSUER: 'https://idp', OIDC_AUDIENCE: 'x', OIDC_ROLE_MAP: 'a=admin' }, 'OIDC_JWKS_URL', /http/],
    [{ OIDC_ISSUER: 'https://idp', OIDC_AUDIENCE: 'x', OIDC_JWKS_URL: 'https://idp/keys', OIDC_ROLE_MAP: 'a=root' }, 'OIDC_ROLE_MAP', /claimValue=role/],
  ])('refuses %p naming %s', (env, variable, rule) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message).toMatch(rule);
  });

  it('reads REASON_REQUIRED_FOR as a set of command names, empty by default', () => {
    expect([...loadConfig({}).reasonRequiredFor]).toEqual([]);
    expect([...loadConfig({ REASON_REQUIRED_FOR: ' StopPool, SetPersistentChatState  CreateEndpoint,' }).reasonRequiredFor]).toEqual(['StopPool', 'SetPersistentChatState', 'CreateEndpoint']);
  });

  it('reads an OIDC issuer with its role map; AUTHENTICATION=off is fine on loopback', () => {
    const config = loadConfig({ OIDC_ISSUER: 'https://idp', OIDC_AUDIENCE: 'ledger', OIDC_JWKS_URL: 'https://idp/keys', OIDC_ROLE_CLAIM: 'realm_access.roles', OIDC_ROLE_MAP: 'Lync Admins=admin, Helpdesk=reader' });
    expect(config.oidc).toMatchObject({ issuer: 'https://idp', audience: 'ledger', roleClaim: 'realm_access.roles' });
    expect([...config.oidc!.roleMap]).toEqual([['Lync Admins', 'admin'], ['Helpdesk', 'reader']]);
    expect(loadConfig({ AUTHENTICATION: 'off', HOST: '::1', RATE_LIMIT: '0' })).toMatchObject({ authentication: 'off', rateLimit: 0 });
    expect(['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]'].every(isLoopback)).toBe(true);
    expect(['0.0.0.0', '10.0.0.5', '::', 'example.com'].some(isLoopback)).toBe(false);
  });
});

describe('configuration of the audit log', () => {
  it('defaults: no key, no witness, verified every ten minutes; files resolved outside DATA_DIR', () => {
    expect(loadConfig({}, '/srv/topo').audit).toEqual({ keyFile: undefined, witnessFile: undefined, witnessUrl: undefined, verifyIntervalMs: 600_000 });
    const audit = loadConfig({ DATA_DIR: 'data', AUDIT_KEY_FILE: '/etc/topo/audit.pem', AUDIT_WITNESS_FILE: '../witness/w.ndjson', AUDIT_VERIFY_INTERVAL: '30s' }, '/srv/topo').audit;
    expect(audit).toEqual({ keyFile: '/etc/topo/audit.pem', witnessFile: '/srv/witness/w.ndjson', witnessUrl: undefined, verifyIntervalMs: 30_000 });
    expect(loadConfig({ AUDIT_VERIFY_INTERVAL: '600' }).audit.verifyIntervalMs).toBe(600_000);
    expect(loadConfig({ AUDIT_VERIFY_INTERVAL: '1h' }).audit.verifyIntervalMs).toBe(3_600_000);
  });

  it.each([
    [{ DATA_DIR: '/srv/topo/data', AUDIT_KEY_FILE: '/srv/topo/data/audit.pem' }, 'AUDIT_KEY_FILE', /must lie outside DATA_DIR/],
    [{ DATA_DIR: '/srv/topo/data', AUDIT_KEY_FILE: '/srv/topo/data/../data/keys/k.pem' }, 'AUDIT_KEY_FILE', /must lie outside DATA_DIR/],
    [{ DATA_DIR: '/srv/topo/data', AUDIT_KEY_FILE: '/etc/k.pem', AUDIT_WITNESS_FILE: '/srv/topo/data/w.ndjson' }, 'AUDIT_WITNESS_FILE', /must lie outside DATA_DIR/],
    [{ AUDIT_WITNESS_FILE: '/mnt/w.ndjson' }, 'AUDIT_WITNESS_FILE', /needs AUDIT_KEY_FILE/],
    [{ AUDIT_WITNESS_URL: 'https://audit.example.com/c' }, 'AUDIT_WITNESS_URL', /needs AUDIT_KEY_FILE/],
    [{ AUDIT_KEY_FILE: '/etc/k.pem', AUDIT_WITNESS_URL: 'ftp://audit.example.com/c' }, 'AUDIT_WITNESS_URL', /http/],
    [{ AUDIT_VERIFY_INTERVAL: 'often' }, 'AUDIT_VERIFY_INTERVAL', /duration from 1s to 168h/],
    [{ AUDIT_VERIFY_INTERVAL: '500ms' }, 'AUDIT_VERIFY_INTERVAL', /duration from 1s to 168h/],
  ])('refuses %p naming %s', (env, variable, rule) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message).toMatch(rule);
  });
});
