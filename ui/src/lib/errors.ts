// Every console error and uncaught exception in the window is kept in `__berthErrors` (as well
// as logged), so the end-to-end suite can fail on any of them: WebKitWebDriver has no log API.
type Win = Window & typeof globalThis & { __berthErrors?: string[] }

export function recordConsoleErrors(w: Win): string[] {
  const seen: string[] = (w.__berthErrors = [])
  const original = w.console.error.bind(w.console)
  w.console.error = (...args: unknown[]) => {
    seen.push(args.map(String).join(' '))
    original(...args)
  }
  w.addEventListener('error', (e) => seen.push(`uncaught: ${e.message}`))
  w.addEventListener('unhandledrejection', (e) => seen.push(`unhandled rejection: ${String(e.reason)}`))
  return seen
}
