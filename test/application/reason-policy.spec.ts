import { requireReason } from '../../src/application/reason-policy';

describe('the reason policy (one for topology and migration commands)', () => {
  const configured = new Set(['StopPool']);

  it('MigratePool needs a reason (the product\'s policy), and a command REASON_REQUIRED_FOR lists needs one (the deployment\'s)', () => {
    expect(() => requireReason(configured, 'MigratePool', '  ', false)).toThrow(expect.objectContaining({ code: 'REASON_REQUIRED', details: expect.objectContaining({ policy: 'destructive commands' }) }));
    expect(() => requireReason(configured, 'StopPool', null, false)).toThrow(expect.objectContaining({ code: 'REASON_REQUIRED', details: expect.objectContaining({ policy: 'REASON_REQUIRED_FOR' }) }));
    expect(() => requireReason(configured, 'StopPool', 'CHG-1', false)).not.toThrow();
    expect(() => requireReason(configured, 'StartPool', null, false)).not.toThrow();
  });

  it('a dry run needs no reason, whether the product or the deployment requires one', () => {
    expect(() => requireReason(configured, 'MigratePool', undefined, true)).not.toThrow();
    expect(() => requireReason(configured, 'StopPool', null, true)).not.toThrow();
  });
});
