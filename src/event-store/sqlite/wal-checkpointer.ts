// The checkpointer serves the event store and the read models alike: it lives in src/common/sqlite.
export { WalCheckpointer } from '../../common/sqlite/wal-checkpointer';
