import { describe, expect, it } from 'vitest'
import { recordConsoleErrors } from './errors'

describe('recordConsoleErrors', () => {
  it('keeps console errors and uncaught errors', () => {
    const seen = recordConsoleErrors(window)
    console.error('boom', 42)
    window.dispatchEvent(new ErrorEvent('error', { message: 'bad thing' }))
    expect(seen).toEqual(['boom 42', 'uncaught: bad thing'])
    expect((window as Window & { __berthErrors?: string[] }).__berthErrors).toBe(seen)
  })
})
