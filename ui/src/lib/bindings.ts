// Generated from the Rust types by src-tauri/src/ipc.rs: do not edit.
// BERTH_WRITE_BINDINGS=1 cargo test -p berth-app bindings rewrites it.
import { invoke } from '@tauri-apps/api/core'

export type MachineView = { name: string, driver: string, state: ViewState, url: string, dockerVersion: string, error: string, hint: string, active: boolean, 
/**
 * What the machine's driver can do: which actions the window and the tray offer.
 */
features: Features, 
/**
 * A running local VM's published ports (with why one is not forwarded) and shared
 * folders (with why one is not mounted).
 */
ports: Array<PortStatus>, shares: Array<ShareStatus>, 
/**
 * Containers running on a running machine (for the tray and the list); None when the
 * machine's Docker was not asked or did not answer.
 */
runningContainers: number | null, };
export type ViewState = "" | "Running" | "Paused" | "Saved" | "Stopped" | "Stopping" | "Starting" | "Error" | "Timeout" | "Not Found" | "Creating" | "Checking";
export type Features = { 
/**
 * Berth can start, stop and kill the machine (existing servers are not Berth's to power).
 */
power: boolean, 
/**
 * Berth logs in over SSH (`berth ssh`, `scp`, the app's SSH action).
 */
ssh: boolean, 
/**
 * `create` installs and configures Docker; `provision` re-runs that.
 */
provisions: boolean, 
/**
 * What `restart` does.
 */
restart: RestartKind, 
/**
 * `provision` accepts new driver options (address, user, port) for an existing machine.
 */
reconfigurable: boolean, 
/**
 * A VM on this computer.
 */
localVm: boolean, 
/**
 * Ports published by containers answer on this computer's localhost.
 */
portForwarding: boolean, 
/**
 * Folders of this computer are visible inside the machine.
 */
sharedFolders: boolean, 
/**
 * CPUs, memory or disk can change after create.
 */
resize: boolean, };
export type PortStatus = { proto: Proto, 
/**
 * Where it answers on this computer (127.0.0.1, or 0.0.0.0 for a machine on the LAN).
 */
hostIp: string, port: number, 
/**
 * The containers that publish it (names).
 */
containers: Array<string>, 
/**
 * Empty when it answers; else why not (the port is taken on this computer, …).
 */
problem: string, };
export type Proto = "tcp" | "udp";
export type ShareStatus = { host: string, guest: string, 
/**
 * Empty when mounted; else why not.
 */
problem: string, };
export type QuickstartPlan = { name: string, driver: string, options: { [key in string]: OptionValue }, 
/**
 * "QEMU virtual machine, 2 CPUs, 4096 MB", for the button's caption.
 */
summary: string, };
export type RestartKind = "machine" | "engine" | "unsupported";
export type OptionKind = "string" | "int" | "bool" | "stringlist" | "path" | "secret" | "account";
export type OptionSpec = { 
/**
 * Flag name without the dashes, e.g. `generic-ip-address`.
 */
name: string, kind: OptionKind, default: string | null, env: string | null, help: string, required: boolean, 
/**
 * A short label for forms.
 */
label: string, 
/**
 * Forms show it under "more options" (it has a sensible default or is rarely needed).
 */
advanced: boolean, 
/**
 * Bounds of a whole number option (checked by `int_in_range`, shown by forms and --help).
 */
min: number | null, max: number | null, 
/**
 * What this computer has (CPUs, memory in MB) for a local VM's size option: the form's
 * upper bound. The CLI still takes more (overcommitting is the user's call).
 */
hostLimit: number | null, 
/**
 * The values a string option takes ("" = not given); empty when any value goes.
 */
choices: Array<string>, 
/**
 * An example value for an empty form field.
 */
placeholder: string | null, 
/**
 * The provider lists the values (regions, sizes, images) for the chosen account.
 */
listed: Listing | null, };
export type Listing = "regions" | "sizes" | "images";
export type DriverKind = "local" | "cloud" | "existing";
export type DriverInfo = { name: string, title: string, description: string, kind: DriverKind, options: Array<OptionSpec>, features: Features, };
export type DriverCard = { ready: boolean, 
/**
 * What to install when the driver cannot be used on this computer.
 */
missing: string | null, name: string, title: string, description: string, kind: DriverKind, options: Array<OptionSpec>, features: Features, };
export type OptionValue = boolean | number | Array<string> | string;
export type Choice = { value: string, label: string, };
export type EngineForm = { labels: Array<string>, env: Array<string>, opts: Array<string>, insecureRegistries: Array<string>, registryMirrors: Array<string>, storageDriver: string, installUrl: string, noLiveRestore: boolean, };
export type CreateRequest = { name: string, driver: string, options: { [key in string]: OptionValue }, engine: EngineForm, tlsSans: Array<string>, 
/**
 * The wizard retries after a failed create of this name: its Error record is replaced.
 */
replaceFailed?: boolean, keepOnFailure?: boolean, 
/**
 * The one-click local machine: once created, it becomes the active host and a terminal
 * opens with its environment.
 */
thenUseAndOpen?: boolean, };
export type Event = { "type": "step", id: string, title: string, } | { "type": "log", line: string, } | { "type": "debug", line: string, } | { "type": "warn", line: string, };
export type JobProgress = { job: string, event: Event, };
export type JobDone = { job: string, ok: boolean, message: string, hint: string | null, };
export type ErrorKind = "InvalidInput" | "NotFound" | "AlreadyExists" | "PreCreate" | "Store" | "Ssh" | "HostKeyChanged" | "Provision" | "Engine" | "Driver" | "Timeout" | "Busy" | "Io" | "Cancelled";
export type UiError = { kind: ErrorKind, message: string, hint: string | null, };
export type SwitchMode = "env" | "context";
export type Theme = "system" | "light" | "dark";
export type Settings = { switchMode: SwitchMode, 
/**
 * Keep a docker context `berth-NAME` for every machine.
 */
dockerContexts: boolean, 
/**
 * Desktop notification when a create (or another long operation) ends.
 */
notifications: boolean, theme: Theme, };
export type ProfileState = "missing" | "absent" | "installed" | "outdated" | "unreadable" | "damaged" | "protected";
export type ProfileFile = { shell: string, path: string, state: ProfileState, 
/**
 * Why Berth refuses the file (for the refused states), naming it.
 */
reason: string | null, 
/**
 * What the user can do about it.
 */
hint: string | null, 
/**
 * The exact block Berth writes.
 */
block: string, 
/**
 * Whether Berth owns the whole file (fish's conf.d snippet).
 */
wholeFile: boolean, };
export type AppInfo = { version: string, store: string, activeEnvFile: string, };
export type MachineAction = "start" | "stop" | "restart" | "kill" | "regenerate-certs" | "provision";
export type AccountView = { provider: string, providerTitle: string, name: string, added: string, };
export type NewAccount = { provider: string, name: string, token?: string, accessKeyId?: string, secretAccessKey?: string, };
export type AddedAccount = { account: AccountView, 
/**
 * What the check call reached, e.g. "the DigitalOcean account sammy@example.com (...)".
 */
reaches: string, };
export type Boot = { machines: Array<MachineView>, settings: Settings, };
export type EngineOverview = { version: string, os: string, kernel: string, cpus: number, 
/**
 * Bytes.
 */
memory: number, storageDriver: string, containers: number, running: number, images: number, labels: Array<string>, };
export type ContainerRow = { id: string, name: string, image: string, 
/**
 * created, running, paused, restarting, exited, removing, dead.
 */
state: string, 
/**
 * Docker's words: "Up 5 minutes", "Exited (0) 2 hours ago".
 */
status: string, 
/**
 * Unix seconds.
 */
created: number, ports: Array<ContainerPort>, 
/**
 * The compose project it belongs to, if any.
 */
project: string | null, };
export type ContainerPort = { privatePort: number, publicPort: number | null, proto: string, hostIp: string, 
/**
 * Where a browser reaches it: 127.0.0.1 when Berth forwards it here, else the machine's
 * address; None for UDP and unpublished ports.
 */
url: string | null, };
export type ContainerAction = "start" | "stop" | "restart" | "kill" | "pause" | "unpause" | "remove" | "removeWithVolumes";
export type LogBatch = { lines: string, ends: Array<number>, 
/**
 * Indexes (within this batch) of the lines written to standard error.
 */
stderr: Array<number>, };
export type LogTake = { batch: LogBatch, 
/**
 * More lines wait: the view takes them on its next frame.
 */
more: boolean, 
/**
 * Lines dropped since the last take because the view did not take them (a hidden window
 * does not draw frames) and the queue was full.
 */
dropped: number, };
export type ImageRow = { id: string, 
/**
 * `repo:tag`s; empty for a dangling image.
 */
tags: Array<string>, 
/**
 * Bytes.
 */
size: number, created: number, 
/**
 * Containers using it (-1 when Docker did not count).
 */
containers: number, };
export type VolumeRow = { name: string, driver: string, 
/**
 * The containers using it (running or not).
 */
usedBy: Array<string>, };
export type NetworkRow = { id: string, name: string, driver: string, scope: string, };
export type DockerChanged = { name: string, 
/**
 * Set when the machine's Docker stopped answering (the page says so; it is tried again).
 */
error: string | null, 
/**
 * Set when only these containers changed: the page reloads them, not everything.
 */
containers: Array<string> | null, };
export type DiskUsage = { images: UsageRow, containers: UsageRow, volumes: UsageRow, buildCache: UsageRow, 
/**
 * Each volume's size where Docker measured it (local volumes), by name.
 */
volumeSizes: Array<[string, number]>, };
export type MachineDetails = { driver: string, url: string, createdAt: string, 
/**
 * The OS Berth found when it provisioned the machine.
 */
os: string, facts: Array<[string, string]>, logs: Array<LogFile>, };
export type LogFile = { label: string, path: string, 
/**
 * Its last lines.
 */
tail: string, };
export type UsageRow = { count: number, 
/**
 * In use (images by containers, containers running, volumes mounted).
 */
active: number, 
/**
 * Bytes.
 */
size: number, 
/**
 * Bytes a prune would free.
 */
reclaimable: number, };
export type PullProgress = { layer: string, 
/**
 * Docker's words: "Pulling fs layer", "Downloading", "Extracting", "Pull complete",
 * "Already exists".
 */
status: string, current: number | null, total: number | null, };
export type PullStep = { name: string, reference: string, step: PullProgress, };
export type RunRequest = { image: string, 
/**
 * Empty: Docker picks one.
 */
name: string, 
/**
 * A shell-style command line; empty: the image's own.
 */
command: string, 
/**
 * `HOST:CONTAINER[/udp]`, `IP:HOST:CONTAINER`, or `CONTAINER` (a free host port).
 */
ports: Array<string>, 
/**
 * `SOURCE:/path[:ro]`: a path on the machine, or a volume's name.
 */
volumes: Array<string>, 
/**
 * `KEY=value`.
 */
env: Array<string>, };

/** The machine page's name for this computer's own Docker (no machine has it). */
export const LOCAL_DOCKER = "local Docker"

/** One typed function per command of src-tauri/src/commands/. */
export const commands = {
  listMachines: () => invoke<Array<MachineView>>('list_machines'),
  refresh: () => invoke<Array<MachineView>>('refresh'),
  driverCatalog: () => invoke<Array<DriverCard>>('driver_catalog'),
  optionChoices: (driver: string, option: string, account: string | null, region: string | null) => invoke<Array<Choice>>('option_choices', { driver, option, account, region }),
  validateCreate: (request: CreateRequest) => invoke<void>('validate_create', { request }),
  createMachine: (request: CreateRequest) => invoke<string>('create_machine', { request }),
  cancelCreate: (name: string) => invoke<void>('cancel_create', { name }),
  quickstartPlan: () => invoke<QuickstartPlan>('quickstart_plan'),
  machineAction: (name: string, action: MachineAction) => invoke<void>('machine_action', { name, action }),
  removeMachine: (name: string, force: boolean) => invoke<void>('remove_machine', { name, force }),
  useMachine: (name: string | null) => invoke<void>('use_machine', { name }),
  envCommand: (name: string) => invoke<string>('env_command', { name }),
  openTerminal: (name: string, ssh: boolean) => invoke<void>('open_terminal', { name, ssh }),
  openPort: (port: number) => invoke<void>('open_port', { port }),
  getSettings: () => invoke<Settings>('get_settings'),
  setSettings: (settings: Settings) => invoke<Settings>('set_settings', { settings }),
  profilesPreview: () => invoke<Array<ProfileFile>>('profiles_preview'),
  profilesInstall: () => invoke<Array<ProfileFile>>('profiles_install'),
  profilesUninstall: () => invoke<Array<ProfileFile>>('profiles_uninstall'),
  appInfo: () => invoke<AppInfo>('app_info'),
  frontendReady: (marks?: Record<string, number>) => invoke<void>('frontend_ready', { marks }),
  listAccounts: () => invoke<Array<AccountView>>('list_accounts'),
  addAccount: (account: NewAccount) => invoke<AddedAccount>('add_account', { account }),
  testAccount: (provider: string, name: string) => invoke<string>('test_account', { provider, name }),
  removeAccount: (provider: string, name: string) => invoke<void>('remove_account', { provider, name }),
  engineOverview: (name: string) => invoke<EngineOverview>('engine_overview', { name }),
  machineDetails: (name: string) => invoke<MachineDetails>('machine_details', { name }),
  listContainers: (name: string, ids: Array<string> | null) => invoke<Array<ContainerRow>>('list_containers', { name, ids }),
  containerAction: (name: string, ids: Array<string>, action: ContainerAction) => invoke<void>('container_action', { name, ids, action }),
  containerLogs: (name: string, id: string, tail: number | null) => invoke<LogBatch>('container_logs', { name, id, tail }),
  openContainerShell: (name: string, id: string) => invoke<void>('open_container_shell', { name, id }),
  saveContainerLogs: (name: string, id: string) => invoke<string>('save_container_logs', { name, id }),
  inspectContainer: (name: string, id: string) => invoke<string>('inspect_container', { name, id }),
  diskUsage: (name: string) => invoke<DiskUsage>('disk_usage', { name }),
  pullImage: (name: string, reference: string) => invoke<void>('pull_image', { name, reference }),
  runContainer: (name: string, request: RunRequest) => invoke<string>('run_container', { name, request }),
  listImages: (name: string) => invoke<Array<ImageRow>>('list_images', { name }),
  removeImage: (name: string, id: string, force: boolean) => invoke<void>('remove_image', { name, id, force }),
  pruneImages: (name: string) => invoke<number>('prune_images', { name }),
  listVolumes: (name: string) => invoke<Array<VolumeRow>>('list_volumes', { name }),
  removeVolume: (name: string, volume: string) => invoke<void>('remove_volume', { name, volume }),
  pruneVolumes: (name: string) => invoke<number>('prune_volumes', { name }),
  listNetworks: (name: string) => invoke<Array<NetworkRow>>('list_networks', { name }),
  watchMachine: (name: string | null) => invoke<void>('watch_machine', { name }),
  followLogs: (name: string, id: string | null) => invoke<void>('follow_logs', { name, id }),
  takeLogLines: (id: string) => invoke<LogTake>('take_log_lines', { id }),
}
