// Types of what the Rust side sends (see src-tauri/src/commands.rs and berth-core).

export interface MachineView {
  name: string
  driver: string
  /** Running, Stopped, Timeout, Error, Creating, ... */
  state: string
  url: string
  dockerVersion: string
  error: string
  hint: string
  active: boolean
}

export type OptionKind = 'string' | 'int' | 'bool' | 'stringlist' | 'path' | 'secret' | 'account'

export interface OptionSpec {
  name: string
  kind: OptionKind
  default: string | null
  env: string | null
  help: string
  required: boolean
  label: string
  /** Shown under "more options": it has a sensible default or is rarely needed. */
  advanced?: boolean
}

export type DriverKind = 'local' | 'cloud' | 'existing'

export interface DriverCard {
  name: string
  title: string
  description: string
  kind: DriverKind
  options: OptionSpec[]
  ready: boolean
  missing: string | null
}

export type OptionValue = string | boolean | string[]

export interface EngineForm {
  labels: string[]
  env: string[]
  opts: string[]
  insecureRegistries: string[]
  registryMirrors: string[]
  storageDriver: string
  installUrl: string
  noLiveRestore: boolean
}

export interface CreateRequest {
  name: string
  driver: string
  options: Record<string, OptionValue>
  engine: EngineForm
  tlsSans: string[]
  /** Retrying after a failed create of this name: replace its Error record. */
  replaceFailed?: boolean
}

export type ProgressEvent =
  | { type: 'step'; id: string; title: string }
  | { type: 'log'; line: string }
  | { type: 'debug'; line: string }
  | { type: 'warn'; line: string }

export interface JobProgress {
  job: string
  event: ProgressEvent
}

export interface JobDone {
  job: string
  ok: boolean
  message: string
  hint: string | null
}

export interface UiError {
  kind: string
  message: string
  hint: string | null
}

export type SwitchMode = 'env' | 'context'
export type Theme = 'system' | 'light' | 'dark'

export interface Settings {
  switchMode: SwitchMode
  dockerContexts: boolean
  notifications: boolean
  theme: Theme
}

/** What installing would do to a profile; the last three are files Berth refuses to change. */
export type ProfileState = 'missing' | 'absent' | 'installed' | 'outdated' | 'unreadable' | 'damaged' | 'protected'

export interface ProfileFile {
  shell: string
  path: string
  state: ProfileState
  /** Why Berth refuses the file (names it), for the refused states. */
  reason: string | null
  hint: string | null
  block: string
  wholeFile: boolean
}

export interface AppInfo {
  version: string
  store: string
  activeEnvFile: string
}

export type MachineAction = 'start' | 'stop' | 'restart' | 'kill' | 'regenerate-certs' | 'provision'

declare global {
  interface Window {
    /** Set by the app before the page's script runs (see src-tauri/src/main.rs `Boot`). */
    __BERTH_BOOT__?: { machines: MachineView[]; settings: Settings }
  }
}

/** A cloud account (the secret itself stays in the OS keychain and never comes back). */
export interface AccountView {
  provider: string
  providerTitle: string
  name: string
  added: string
}

export interface NewAccount {
  provider: string
  name: string
  token?: string
  accessKeyId?: string
  secretAccessKey?: string
}

export interface AddedAccount {
  account: AccountView
  reaches: string
}
