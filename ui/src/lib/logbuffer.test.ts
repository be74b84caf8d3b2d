import { describe, expect, it } from 'vitest'
import { LogBuffer } from './logbuffer'
import { logBatch } from '../test/fakes'

const batch = (lines: [string, string, boolean?][]) => logBatch(lines.map(([time, text, err]) => ({ stream: err ? 'stderr' : 'stdout', time, text })))

describe('LogBuffer', () => {
  it('gives back each line with its time and stream, across batches', () => {
    const b = LogBuffer.of(batch([['t1', 'one'], ['t2', 'two words', true]]))
    b.append(batch([]))
    b.append(batch([['t3', 'naïve 🚀 three']]))
    expect(b.length).toBe(3)
    expect(b.line(0)).toEqual({ index: 0, time: 't1', text: 'one', stderr: false })
    expect(b.line(1)).toEqual({ index: 1, time: 't2', text: 'two words', stderr: true })
    expect(b.line(2)).toEqual({ index: 2, time: 't3', text: 'naïve 🚀 three', stderr: false })
    expect(b.text()).toBe('one\ntwo words\nnaïve 🚀 three')
  })

  it('finds lines by their text, never by the time stamp, and searches only new lines again', () => {
    const b = LogBuffer.of(batch([['2026-12-02T10:00:00Z', 'GET /a 200'], ['2026-12-02T10:00:01Z', 'get /b 404'], ['2026-12-02T10:00:02Z', 'POST /get']]))
    expect(b.matching('GET')).toEqual([0, 1, 2])
    expect(b.matching('2026')).toEqual([])
    expect(b.matching('z post')).toEqual([])
    expect(b.matching('404')).toEqual([1])
    const found = b.matching('404')
    b.append(batch([['2026-12-02T10:00:03Z', 'GET /c 404 404']]))
    expect(b.matching('404')).toBe(found)
    expect(found).toEqual([1, 3])
    expect(b.text(found)).toBe('get /b 404\nGET /c 404 404')
  })

  it('still finds lines when lower-casing changes a character\'s length', () => {
    const b = LogBuffer.of(batch([['t', 'İstanbul'], ['t', 'ankara'], ['t', 'ANKARA ok']]))
    expect(b.matching('ankara')).toEqual([1, 2])
  })

  it('holds 100 000 lines in batches and finds the last one', () => {
    const b = new LogBuffer()
    for (let k = 0; k < 20; k++) b.append(batch(Array.from({ length: 5000 }, (_, i) => ['t', String(k * 5000 + i + 1)] as [string, string])))
    expect(b.length).toBe(100000)
    expect(b.line(99999).text).toBe('100000')
    expect(b.line(5000).text).toBe('5001')
    expect(b.matching('99999')).toEqual([99998])
  })
})
