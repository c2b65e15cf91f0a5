/**
 * FIFO queue with O(1) `shift` and `unshift`: `Array.prototype.shift` is O(n), which shows at
 * thousands of queued invocations. Slots are cleared on removal so the payloads can be collected.
 */
export class Deque<T> {
  #items: (T | undefined)[] = []
  #head = 0

  get length(): number {
    return this.#items.length - this.#head
  }

  push(item: T): void {
    this.#items.push(item)
  }

  /** Puts an item back in front, e.g. an invocation whose delivery failed. */
  unshift(item: T): void {
    if (this.#head > 0) {
      this.#head -= 1
      this.#items[this.#head] = item
    } else {
      this.#items.unshift(item)
    }
  }

  shift(): T | undefined {
    if (this.#head === this.#items.length) return undefined
    const item = this.#items[this.#head]
    this.#items[this.#head] = undefined
    this.#head += 1
    if (this.#head === this.#items.length) {
      this.#items = []
      this.#head = 0
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      // Compact once the dead prefix dominates, so a long-lived queue does not grow forever.
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
    return item
  }

  /** Removes and returns every item, oldest first. */
  drain(): T[] {
    const items = this.#items.slice(this.#head) as T[]
    this.#items = []
    this.#head = 0
    return items
  }
}
