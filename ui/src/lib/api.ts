// The one module that talks to the Rust side: every invoke() and event listener is here.
import { commands } from './bindings'
import { listen, type UnlistenFn } from '@tauri-apps/api/event'
import type { DockerChanged, JobDone, JobProgress, MachineView, PullStep, UiError } from './types'

export const api = {
  // Every command, typed from the Rust side (bindings.ts is generated).
  ...commands,
  onMachines: (cb: (m: MachineView[]) => void): Promise<UnlistenFn> => listen<MachineView[]>('machines', (e) => cb(e.payload)),
  onJobProgress: (cb: (p: JobProgress) => void): Promise<UnlistenFn> => listen<JobProgress>('job-progress', (e) => cb(e.payload)),
  onJobDone: (cb: (d: JobDone) => void): Promise<UnlistenFn> => listen<JobDone>('job-done', (e) => cb(e.payload)),
  onDockerChanged: (cb: (c: DockerChanged) => void): Promise<UnlistenFn> => listen<DockerChanged>('docker-changed', (e) => cb(e.payload)),
  onPullProgress: (cb: (p: PullStep) => void): Promise<UnlistenFn> => listen<PullStep>('pull-progress', (e) => cb(e.payload)),
  onOpenMachine: (cb: (name: string) => void): Promise<UnlistenFn> => listen<string>('open-machine', (e) => cb(e.payload)),
  /** Lines of the followed container wait: take them with takeLogLines (the payload is its ID). */
  onLogReady: (cb: (id: string) => void): Promise<UnlistenFn> => listen<string>('log-ready', (e) => cb(e.payload)),
}

export type Api = typeof api

/** Any rejection from invoke() as a UiError (commands reject with {kind, message, hint}). */
export function errorOf(e: unknown): UiError {
  if (e && typeof e === 'object' && 'message' in e) {
    const o = e as Partial<UiError>
    return { kind: o.kind ?? 'Error', message: String(o.message), hint: o.hint ?? null }
  }
  return { kind: 'Error', message: String(e), hint: null }
}
