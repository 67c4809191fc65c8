/**
 * A read-only map whose next version shares all but its recent changes with this one, iterated in
 * insertion order as a `Map` is (a key deleted and set again comes last).
 *
 * A deployment's state is replaced, never changed, by each group of commands it decides. A `Map`
 * copied per group costs time linear in its size: 9 ms for 50,000 endpoints on this product's
 * benchmark machine, paid per command when commands come one at a time, and twice (the endpoints and
 * their index by distinguished name). Here a version is a `Map` shared by many versions (the base,
 * never changed once shared) and a small `Map` of this version's changes to it; a draft copies the
 * changes only, and once they outgrow 4√n (n: the base's size), folds them into a new base. A group
 * of w writes then copies about 4√n + w√n/4 entries rather than n (`npm run bench:decide`: 4√n did
 * better than √n for groups of 32 and as well for groups of one).
 *
 * Why not a library's persistent map: Immutable's `OrderedMap` (the persistent map that keeps
 * insertion order) held the same 50,000 endpoints in twice the memory, folded them 2.8 times slower,
 * and answered `get` 14 times slower than a `Map` (measured side by side); the decider and the drift
 * computation read far more than they write.
 */
export class SharedMap<K, V> implements ReadonlyMap<K, V> {
  protected constructor(
    /** Shared with other versions: never changed, but by the draft that made it and owns it still. */
    protected base: Map<K, V>,
    /** This version's differences from `base`, in the order the additions were made. */
    protected changes: Map<K, Change<V>>,
    protected count: number,
  ) {}

  static empty<K, V>(): SharedMap<K, V> {
    return new SharedMap(new Map(), new Map(), 0);
  }

  protected static version<K, V>(base: Map<K, V>, changes: Map<K, Change<V>>, count: number): SharedMap<K, V> {
    return new SharedMap(base, changes, count);
  }

  get size(): number {
    return this.count;
  }

  get(key: K): V | undefined {
    const change = this.changes.get(key);
    if (change !== undefined) return change === DELETED ? undefined : change.value;
    return this.base.get(key);
  }

  has(key: K): boolean {
    const change = this.changes.get(key);
    if (change !== undefined) return change !== DELETED;
    return this.base.has(key);
  }

  entries(): MapIterator<[K, V]> {
    return this.changes.size === 0 ? this.base.entries() : this.merged();
  }

  keys(): MapIterator<K> {
    return this.changes.size === 0 ? this.base.keys() : map(this.merged(), ([key]) => key);
  }

  values(): MapIterator<V> {
    return this.changes.size === 0 ? this.base.values() : map(this.merged(), ([, value]) => value);
  }

  /** The base with this version's changes made, in a `Map`'s order. */
  private *merged(): MapIterator<[K, V]> {
    for (const entry of this.base) {
      const change = this.changes.get(entry[0]);
      if (change === undefined) yield entry;
      else if (change !== DELETED && !change.added) yield [entry[0], change.value];
    }
    for (const [key, change] of this.changes) if (change !== DELETED && change.added) yield [key, change.value];
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  forEach(callback: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this);
  }

  /** A draft of the next version (see `SharedMapDraft`); this version is unchanged by it. */
  edit(): SharedMapDraft<K, V> {
    return new SharedMapDraft(this.base, new Map(this.changes), this.count);
  }
}

function* map<T, U>(items: Iterable<T>, f: (item: T) => U): MapIterator<U> {
  for (const item of items) yield f(item);
}

/** What a version changed of its base: a value (`added`: it comes after the base's keys) or a deletion. */
type Change<V> = { readonly value: V; readonly added: boolean } | typeof DELETED;
const DELETED = Symbol('deleted');

/** Changes a draft keeps beside its base before folding them into a new one. */
function changeLimit(baseSize: number): number {
  return Math.max(64, Math.ceil(4 * Math.sqrt(baseSize)));
}

/**
 * The next version of a `SharedMap` while it is written: it reads as the map with its writes made,
 * and `done()` gives the version to keep. A base it made itself it writes in place, as a `Map`, until
 * it is done or drafted from.
 */
export class SharedMapDraft<K, V> extends SharedMap<K, V> {
  private ownsBase = false;
  private finished = false;

  set(key: K, value: V): this {
    this.writable();
    if (this.ownsBase) {
      if (!this.base.has(key)) this.count += 1;
      this.base.set(key, value);
      return this;
    }
    const change = this.changes.get(key);
    if (change === undefined) {
      const inBase = this.base.has(key);
      if (!inBase) this.count += 1;
      this.changes.set(key, { value, added: !inBase });
    } else if (change === DELETED) {
      // Deleted and set again: after everything else, as in a Map.
      this.count += 1;
      this.changes.delete(key);
      this.changes.set(key, { value, added: true });
    } else {
      this.changes.set(key, { value, added: change.added });
    }
    this.compactIfLarge();
    return this;
  }

  delete(key: K): boolean {
    this.writable();
    if (this.ownsBase) {
      const had = this.base.delete(key);
      if (had) this.count -= 1;
      return had;
    }
    const change = this.changes.get(key);
    if (change === DELETED) return false;
    if (change === undefined && !this.base.has(key)) return false;
    this.count -= 1;
    if (this.base.has(key)) this.changes.set(key, DELETED);
    else this.changes.delete(key);
    this.compactIfLarge();
    return true;
  }

  override edit(): SharedMapDraft<K, V> {
    // The new draft shares this one's base: from now on this one writes beside it, not into it.
    this.ownsBase = false;
    return super.edit();
  }

  /** The version to keep; the draft takes no more writes. */
  done(): SharedMap<K, V> {
    this.finished = true;
    this.ownsBase = false;
    return SharedMap.version(this.base, this.changes, this.count);
  }

  private writable(): void {
    if (this.finished) throw new Error('a SharedMap draft takes no writes once done');
  }

  /** Folds the changes into a base of this draft's own once they outgrow `changeLimit`. */
  private compactIfLarge(): void {
    if (this.changes.size <= changeLimit(this.base.size)) return;
    this.base = new Map(this.entries());
    this.changes = new Map();
    this.ownsBase = true;
  }
}
