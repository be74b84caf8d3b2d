// A log view's lines, kept as the batches they arrived in (one string per batch and where each
// line ends), not as an object per line: 100 000 lines are a few MiB and appending a batch is
// one push, whatever the count. Lines are cut out only when drawn (the view draws ~40).
import type { LogBatch } from './types'

export type ShownLine = { index: number; time: string; text: string; stderr: boolean }

type Chunk = { raw: string; ends: number[]; stderr: Set<number>; first: number; lower?: string }

export class LogBuffer {
  private chunks: Chunk[] = []
  private found: { q: string; lines: number[]; upTo: number } | null = null
  length = 0

  static of(batch: LogBatch): LogBuffer {
    const b = new LogBuffer()
    b.append(batch)
    return b
  }

  append(batch: LogBatch) {
    if (!batch.ends.length) return
    this.chunks.push({ raw: batch.lines, ends: batch.ends, stderr: new Set(batch.stderr), first: this.length })
    this.length += batch.ends.length
  }

  line(i: number): ShownLine {
    const c = this.chunkOf(i)
    const j = i - c.first
    const s = c.raw.slice(j ? c.ends[j - 1] + 1 : 0, c.ends[j])
    const space = s.indexOf(' ')
    return { index: i, time: s.slice(0, space), text: s.slice(space + 1), stderr: c.stderr.has(j) }
  }

  /** The lines whose text holds `q` (any case), as indexes. Asked again with the same `q`,
   * only lines appended since are searched: a followed view stays cheap while it grows. */
  matching(q: string): number[] {
    if (this.found?.q !== q) {
      this.found = { q, lines: [], upTo: 0 }
      for (const c of this.chunks) delete c.lower
    }
    const found = this.found
    if (found.upTo < this.length) {
      const needle = q.toLowerCase()
      for (const c of this.chunks) if (c.first + c.ends.length > found.upTo) searchChunk(c, needle, found.upTo, found.lines)
      found.upTo = this.length
    }
    return found.lines
  }

  /** The lines' texts (all, or these indexes), one per line: what Copy puts on the clipboard. */
  text(indexes: number[] | null = null): string {
    const out: string[] = []
    if (indexes) for (const i of indexes) out.push(this.line(i).text)
    else for (let i = 0; i < this.length; i++) out.push(this.line(i).text)
    return out.join('\n')
  }

  private chunkOf(i: number): Chunk {
    let [lo, hi] = [0, this.chunks.length - 1]
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (this.chunks[mid].first <= i) lo = mid
      else hi = mid - 1
    }
    return this.chunks[lo]
  }
}

/** Pushes onto `out` the chunk's lines from `from` on (a buffer-wide index) whose text (not the
 * time stamp before it) holds `needle`. */
function searchChunk(c: Chunk, needle: string, from: number, out: number[]) {
  const lower = (c.lower ??= c.raw.toLowerCase())
  let j = Math.max(0, from - c.first)
  if (lower.length !== c.raw.length) {
    // Lower-casing changed some character's length: offsets no longer match, go line by line.
    for (; j < c.ends.length; j++) {
      const s = c.raw.slice(j ? c.ends[j - 1] + 1 : 0, c.ends[j])
      if (s.slice(s.indexOf(' ') + 1).toLowerCase().includes(needle)) out.push(c.first + j)
    }
    return
  }
  let pos = j ? c.ends[j - 1] + 1 : 0
  for (;;) {
    const at = lower.indexOf(needle, pos)
    if (at < 0) return
    j = lineAt(c.ends, at, j)
    const textStart = lower.indexOf(' ', j ? c.ends[j - 1] + 1 : 0) + 1
    if (at < textStart) {
      // Found in the time stamp: look again in the line's text.
      pos = textStart
      continue
    }
    out.push(c.first + j)
    pos = c.ends[j] + 1
    j++
  }
}

/** The first line (from `lo` on) that ends at or after `at`. */
function lineAt(ends: number[], at: number, lo: number): number {
  let hi = ends.length - 1
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (ends[mid] >= at) hi = mid
    else lo = mid + 1
  }
  return lo
}
