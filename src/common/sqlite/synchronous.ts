/** SQLite's `synchronous` setting of a file: what the configuration chooses and the files are opened with. */
export type Synchronous = 'FULL' | 'EXTRA' | 'NORMAL';
