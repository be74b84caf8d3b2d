// The types of what the Rust side sends and takes are generated from the Rust types into
// bindings.ts (src-tauri/src/ipc.rs; CI checks it is current). This module re-exports them
// under the names the components use.
import type { Boot, ErrorKind, Event, UiError as RustUiError } from './bindings'

export type {
  AccountView, AddedAccount, AppInfo, Choice, ContainerAction, ContainerPort, ContainerRow, CreateRequest, DockerChanged, DriverCard, DriverKind, EngineForm, ErrorKind, Features,
  DiskUsage, EngineOverview, ImageRow, LogFile, MachineDetails, PullProgress, PullStep, RunRequest, UsageRow, JobDone, JobProgress, Listing, LogBatch, LogTake, NetworkRow, VolumeRow, MachineAction, MachineView, NewAccount, OptionKind, OptionSpec, OptionValue,
  ProfileFile, ProfileState, RestartKind, Settings, SwitchMode, Theme, ViewState,
} from './bindings'

/** An error as the window shows it: the Rust side's, or 'Error' for a failure of the page itself. */
export type UiError = Omit<RustUiError, 'kind'> & { kind: ErrorKind | 'Error' }

/** A step, log line, debug line or warning of a long operation. */
export type ProgressEvent = Event

declare global {
  interface Window {
    /** Set by the app before the page's script runs (see src-tauri/src/main.rs `Boot`). */
    __BERTH_BOOT__?: Boot
  }
}
