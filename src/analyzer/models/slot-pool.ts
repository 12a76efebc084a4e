/**
 * Slot bookkeeping shared by the column-store models: a model keeps each series' state at index
 * `slot` (times its stride) in typed arrays, and this pool hands out slots, reuses released ones
 * and asks the model to grow its columns when full.
 */
export class SlotPool {
  private cap: number;
  private used = 0;
  private readonly free: number[] = [];

  /** `grow(newCapacity)` must resize every column of the owner to hold `newCapacity` slots. */
  constructor(
    initialCapacity: number,
    private readonly grow: (newCapacity: number) => void,
  ) {
    this.cap = Math.max(1, Math.floor(initialCapacity));
  }

  /** Slots the columns currently hold. */
  get capacity(): number {
    return this.cap;
  }

  /** Slots in use (allocated and not released). */
  get slotCount(): number {
    return this.used - this.free.length;
  }

  /** A fresh slot; the caller clears its state. */
  allocate(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if (this.used === this.cap) {
      this.cap *= 2;
      this.grow(this.cap);
    }
    return this.used++;
  }

  /** Makes a slot available to `allocate` again; the caller clears its state. */
  release(slot: number): void {
    this.free.push(slot);
  }
}

/** A copy of `a` with length `n` (zero-filled past the old end). */
export function resizeF64(a: Float64Array, n: number): Float64Array {
  const b = new Float64Array(n);
  b.set(a.subarray(0, Math.min(a.length, n)));
  return b;
}

/** A copy of `a` with length `n` (zero-filled past the old end). */
export function resizeI32(a: Int32Array, n: number): Int32Array {
  const b = new Int32Array(n);
  b.set(a.subarray(0, Math.min(a.length, n)));
  return b;
}

/** A copy of `a` with length `n` (zero-filled past the old end). */
export function resizeF32(a: Float32Array, n: number): Float32Array {
  const b = new Float32Array(n);
  b.set(a.subarray(0, Math.min(a.length, n)));
  return b;
}

/** A copy of `a` with length `n` (zero-filled past the old end). */
export function resizeU8(a: Uint8Array, n: number): Uint8Array {
  const b = new Uint8Array(n);
  b.set(a.subarray(0, Math.min(a.length, n)));
  return b;
}
