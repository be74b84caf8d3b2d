import '@testing-library/jest-dom/vitest'
import { cleanup } from '@testing-library/svelte'
import { afterEach } from 'vitest'

afterEach(() => cleanup())

// jsdom lays nothing out and has no ResizeObserver (Svelte's bind:clientHeight uses one):
// elements report 0 px, so the virtual lists draw their minimum window.
globalThis.ResizeObserver ??= class {
  observe() {}
  unobserve() {}
  disconnect() {}
}
