// The lock serves the command handlers and the hash chain alike: it lives in src/common.
export { KeyedLock } from '../common/keyed-lock';
