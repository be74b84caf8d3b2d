// The one module that talks to the Rust side: every invoke() and event listener is here.
import { invoke } from '@tauri-apps/api/core'
import { listen, type UnlistenFn } from '@tauri-apps/api/event'
import type {
  AccountView, AddedAccount, AppInfo, CreateRequest, DriverCard, JobDone, JobProgress, MachineAction, MachineView, NewAccount, ProfileFile, Settings, UiError,
} from './types'

export const api = {
  listMachines: () => invoke<MachineView[]>('list_machines'),
  refresh: () => invoke<MachineView[]>('refresh'),
  driverCatalog: () => invoke<DriverCard[]>('driver_catalog'),
  validateCreate: (request: CreateRequest) => invoke<void>('validate_create', { request }),
  createMachine: (request: CreateRequest) => invoke<string>('create_machine', { request }),
  cancelCreate: (name: string) => invoke<void>('cancel_create', { name }),
  machineAction: (name: string, action: MachineAction) => invoke<void>('machine_action', { name, action }),
  removeMachine: (name: string, force: boolean) => invoke<void>('remove_machine', { name, force }),
  useMachine: (name: string | null) => invoke<void>('use_machine', { name }),
  envCommand: (name: string) => invoke<string>('env_command', { name }),
  openTerminal: (name: string, ssh: boolean) => invoke<void>('open_terminal', { name, ssh }),
  getSettings: () => invoke<Settings>('get_settings'),
  setSettings: (settings: Settings) => invoke<Settings>('set_settings', { settings }),
  profilesPreview: () => invoke<ProfileFile[]>('profiles_preview'),
  profilesInstall: () => invoke<ProfileFile[]>('profiles_install'),
  profilesUninstall: () => invoke<ProfileFile[]>('profiles_uninstall'),
  appInfo: () => invoke<AppInfo>('app_info'),
  listAccounts: () => invoke<AccountView[]>('list_accounts'),
  addAccount: (account: NewAccount) => invoke<AddedAccount>('add_account', { account }),
  testAccount: (provider: string, name: string) => invoke<string>('test_account', { provider, name }),
  removeAccount: (provider: string, name: string) => invoke<void>('remove_account', { provider, name }),
  frontendReady: (marks?: Record<string, number>) => invoke<void>('frontend_ready', { marks }),
  onMachines: (cb: (m: MachineView[]) => void): Promise<UnlistenFn> => listen<MachineView[]>('machines', (e) => cb(e.payload)),
  onJobProgress: (cb: (p: JobProgress) => void): Promise<UnlistenFn> => listen<JobProgress>('job-progress', (e) => cb(e.payload)),
  onJobDone: (cb: (d: JobDone) => void): Promise<UnlistenFn> => listen<JobDone>('job-done', (e) => cb(e.payload)),
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
