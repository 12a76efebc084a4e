/**
 * The analyzer's write path, packed into typed arrays: one point costs a few sequential integer
 * reads instead of a chain of objects (route array → field route → model and slot arrays), whose
 * cache misses dominated the write path past a few thousand series.
 *
 * A route (what one series' fields feed) is a run of integers in `RouteTable.ops`, at an offset:
 *   [fieldCount, then per field: fieldId, modelCount, sideId (-1: none), modelId, slot, modelId, slot, …]
 * Offset 0 is the empty route (a series no rule watches). `sideId` names rarely used work (set
 * thresholds, join values) kept as objects by the engine.
 */

/** Offset of the route that feeds nothing. */
export const EMPTY_ROUTE = 0;

/** Integers per field in a route before its (modelId, slot) pairs. */
export const FIELD_HEADER = 3;

/** One field of a route, before packing. */
export interface FieldOps {
  fieldId: number;
  /** Parallel: model id and slot per model the field feeds. */
  modelIds: readonly number[];
  slots: readonly number[];
  /** Engine-side work for this field's value (thresholds, joins), or -1. */
  sideId: number;
}

/** Packed routes; offsets stay valid until `reset`. */
export class RouteTable {
  /** The packed routes (read directly on the hot path; replaced when it grows). */
  ops: Int32Array;
  private used = 1;

  constructor(initialInts = 1024) {
    this.ops = new Int32Array(Math.max(16, initialInts));
  }

  /** Integers in use (the empty route included). */
  get size(): number {
    return this.used;
  }

  /** Packs a route and returns its offset (EMPTY_ROUTE when it feeds nothing). */
  add(fields: readonly FieldOps[]): number {
    if (fields.length === 0) return EMPTY_ROUTE;
    let need = 1;
    for (const f of fields) need += FIELD_HEADER + 2 * f.modelIds.length;
    this.reserve(need);
    const ops = this.ops;
    const at = this.used;
    let o = at;
    ops[o++] = fields.length;
    for (const f of fields) {
      ops[o++] = f.fieldId;
      ops[o++] = f.modelIds.length;
      ops[o++] = f.sideId;
      for (let k = 0; k < f.modelIds.length; k++) {
        ops[o++] = f.modelIds[k] as number;
        ops[o++] = f.slots[k] as number;
      }
    }
    this.used = o;
    return at;
  }

  /** Forgets every route (their offsets become invalid); keeps the empty one. */
  reset(): void {
    this.used = 1;
  }

  private reserve(n: number): void {
    if (this.used + n <= this.ops.length) return;
    let cap = this.ops.length * 2;
    while (this.used + n > cap) cap *= 2;
    const next = new Int32Array(cap);
    next.set(this.ops.subarray(0, this.used));
    this.ops = next;
  }
}

/**
 * Where each watched field sits in each field-name list (shape) of one columns table, by shape id:
 * `table[shapeId * stride]` is the shape's width (-1 until learnt), then one position per watched
 * field id (-1: absent). Shapes never change once named, so entries never go stale.
 */
export class ShapeTable {
  /** Integers per shape: its width, then a position per watched field. */
  readonly stride: number;
  table: Int32Array;

  constructor(private readonly fields: readonly string[]) {
    this.stride = fields.length + 1;
    this.table = new Int32Array(16 * this.stride).fill(-1);
  }

  /** Base index of shape `shapeId` in `table`, learning it from `names` on first use. */
  base(shapeId: number, fieldNames: ReadonlyArray<readonly string[] | undefined>): number {
    const b = shapeId * this.stride;
    if (b < this.table.length && (this.table[b] as number) >= 0) return b;
    return this.learn(shapeId, fieldNames[shapeId] ?? []);
  }

  private learn(shapeId: number, names: readonly string[]): number {
    const b = shapeId * this.stride;
    if (b >= this.table.length) {
      let cap = this.table.length * 2;
      while (b >= cap) cap *= 2;
      const next = new Int32Array(cap).fill(-1);
      next.set(this.table);
      this.table = next;
    }
    this.table[b] = names.length;
    for (let f = 0; f < this.fields.length; f++) this.table[b + 1 + f] = names.indexOf(this.fields[f] as string);
    return b;
  }
}

/** A growable Int32Array of route offsets + 1 by head id (0: not routed yet). */
export class HeadRoutes {
  offsets = new Int32Array(64);

  constructor(
    /** Route generation the offsets belong to. */
    readonly generation: number,
  ) {}

  /** Records the route offset of a head id. */
  set(headId: number, offset: number): void {
    if (headId >= this.offsets.length) {
      let cap = this.offsets.length * 2;
      while (headId >= cap) cap *= 2;
      const next = new Int32Array(cap);
      next.set(this.offsets);
      this.offsets = next;
    }
    this.offsets[headId] = offset + 1;
  }
}

/**
 * Routes of one producer's batches by position: a producer that keeps its points (or their tags
 * objects) sends them in the same order every time, so point i's route is found by comparing
 * identities with what point i was last time, without a hash lookup.
 */
export class BatchRoutes {
  private tags: Array<object | undefined> = [];
  private measurements: Array<string | undefined> = [];
  private routes = new Int32Array(64);

  constructor(
    /** Route generation the offsets belong to. */
    private generation: number,
  ) {}

  /** The route offset point `i` had when it had these tags and measurement, or -1. */
  get(i: number, tags: object, measurement: string, generation: number): number {
    if (this.tags[i] !== tags || this.measurements[i] !== measurement || this.generation !== generation) return -1;
    return this.routes[i] as number;
  }

  /** Records point i's route; a new generation forgets every older entry. */
  set(i: number, tags: object, measurement: string, route: number, generation: number): void {
    if (generation !== this.generation) {
      this.tags = [];
      this.measurements = [];
      this.generation = generation;
    }
    if (i >= this.routes.length) {
      let cap = this.routes.length * 2;
      while (i >= cap) cap *= 2;
      const next = new Int32Array(cap);
      next.set(this.routes);
      this.routes = next;
    }
    // Fill holes so the arrays stay packed (holey arrays are slower to read).
    while (this.tags.length < i) {
      this.tags.push(undefined);
      this.measurements.push(undefined);
    }
    this.tags[i] = tags;
    this.measurements[i] = measurement;
    this.routes[i] = route;
  }
}
