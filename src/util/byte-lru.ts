// A least-recently-used cache bounded by total bytes, for small immutable content (manifests
// are addressed by digest, so an entry never goes stale; deletion removes it explicitly).
export class ByteLru<V extends { bytes: Uint8Array }> {
  private readonly entries = new Map<string, V>()
  private total = 0

  constructor(private readonly maxBytes: number) {}

  get(key: string): V | undefined {
    const value = this.entries.get(key)
    if (value === undefined) return undefined
    this.entries.delete(key)
    this.entries.set(key, value)
    return value
  }

  set(key: string, value: V): void {
    if (value.bytes.length > this.maxBytes / 4) return
    this.delete(key)
    this.entries.set(key, value)
    this.total += value.bytes.length
    for (const [oldest, old] of this.entries) {
      if (this.total <= this.maxBytes) break
      this.entries.delete(oldest)
      this.total -= old.bytes.length
    }
  }

  delete(key: string): void {
    const value = this.entries.get(key)
    if (value === undefined) return
    this.entries.delete(key)
    this.total -= value.bytes.length
  }
}
