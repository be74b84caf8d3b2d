// A fake of lib/api for component tests: records calls, lets tests fire events.
import { vi } from 'vitest'
import type { AccountView, ContainerAction, ContainerRow, DockerChanged, DriverCard, Features, LogBatch, PullStep, RunRequest, JobDone, NewAccount, JobProgress, MachineView, OptionSpec, ProfileFile, Settings } from '../lib/types'

/** An option spec with the fields a test does not care about filled in. */
export function spec(o: Pick<OptionSpec, 'name' | 'kind' | 'label'> & Partial<OptionSpec>): OptionSpec {
  return { default: null, env: null, help: '', required: false, advanced: false, min: null, max: null, hostLimit: null, choices: [], placeholder: null, listed: null, ...o }
}

const none: Features = { power: false, ssh: false, provisions: false, restart: 'unsupported', reconfigurable: false, localVm: false, portForwarding: false, sharedFolders: false, resize: false }
/** What the registry says of each driver (crates/core/src/drivers/registry.rs). */
export const features: Record<string, Features> = {
  generic: { ...none, ssh: true, provisions: true, restart: 'engine', reconfigurable: true },
  none: { ...none, reconfigurable: true },
  qemu: { ...none, power: true, ssh: true, provisions: true, restart: 'machine', localVm: true },
  digitalocean: { ...none, power: true, ssh: true, provisions: true, restart: 'machine' },
  amazonec2: { ...none, power: true, ssh: true, provisions: true, restart: 'machine' },
}

export const generic: DriverCard = {
  name: 'generic', features: features.generic, title: 'Existing server (SSH)', description: 'A Linux server you can already log in to.', kind: 'existing', ready: true, missing: null,
  options: [
    spec({ name: 'generic-ip-address', kind: 'string', default: null, env: 'GENERIC_IP_ADDRESS', help: 'IP address or host name of the server', required: true, label: 'Address' }),
    spec({ name: 'generic-ssh-user', kind: 'string', default: 'root', env: null, help: 'SSH user', required: false, label: 'SSH user' }),
    spec({ name: 'generic-ssh-port', kind: 'int', default: '22', env: null, help: 'SSH port', required: false, label: 'SSH port', min: 1, max: 65535 }),
  ],
}
export const qemu: DriverCard = { name: 'qemu', features: features.qemu, title: 'QEMU', description: 'A VM', kind: 'local', ready: false, missing: 'install qemu-system-x86', options: [] }

export const digitalocean: DriverCard = {
  name: 'digitalocean', features: features.digitalocean, title: 'DigitalOcean', description: 'A droplet.', kind: 'cloud', ready: true, missing: null,
  options: [
    spec({ name: 'digitalocean-account', kind: 'account', default: null, env: null, help: 'account', required: false, label: 'Account' }),
    spec({ name: 'digitalocean-access-token', kind: 'secret', default: null, env: 'DIGITALOCEAN_ACCESS_TOKEN', help: 'token', required: false, label: 'API token' }),
    spec({ name: 'digitalocean-region', kind: 'string', default: 'nyc3', env: null, help: 'region slug', required: false, label: 'Region', listed: 'regions' }),
  ],
}

export const amazonec2: DriverCard = {
  name: 'amazonec2', features: features.amazonec2, title: 'AWS EC2', description: 'An EC2 instance.', kind: 'cloud', ready: true, missing: null,
  options: [
    spec({ name: 'amazonec2-account', kind: 'account', default: null, env: null, help: 'account', required: false, label: 'Account' }),
    spec({ name: 'amazonec2-secret-key', kind: 'secret', default: null, env: null, help: 'secret', required: false, label: 'Secret access key', advanced: true }),
    spec({ name: 'amazonec2-region', kind: 'string', default: 'us-east-1', env: null, help: 'region', required: false, label: 'Region' }),
    spec({ name: 'amazonec2-ssh-port', kind: 'int', default: '22', env: null, help: 'SSH port', required: false, label: 'SSH port', advanced: true, min: 1, max: 65535 }),
    spec({ name: 'amazonec2-open-port', kind: 'stringlist', default: null, env: null, help: 'ports', required: false, label: 'Open ports', advanced: true }),
  ],
}

export function machine(name: string, over: Partial<MachineView> = {}): MachineView {
  const driver = over.driver ?? 'generic'
  return { name, driver, state: 'Running', url: `tcp://10.0.0.2:2376`, dockerVersion: '20.10.24', error: '', hint: '', active: false, features: features[driver] ?? none, ports: [], shares: [], runningContainers: null, ...over }
}

/** A container's output line, as Docker gives it. */
export type Line = { stream: 'stdout' | 'stderr'; time: string; text: string }

/** Lines as the Rust side sends them (LogBatch::of): `TIME TEXT` joined, with where each ends. */
export function logBatch(lines: Line[]): LogBatch {
  let raw = ''
  const ends: number[] = []
  const stderr: number[] = []
  lines.forEach((l, i) => {
    raw += `${i ? '\n' : ''}${l.time} ${l.text}`
    ends.push(raw.length)
    if (l.stream === 'stderr') stderr.push(i)
  })
  return { lines: raw, ends, stderr }
}

export function fakeApi() {
  const handlers = { machines: [] as ((m: MachineView[]) => void)[], progress: [] as ((p: JobProgress) => void)[], done: [] as ((d: JobDone) => void)[], docker: [] as ((c: DockerChanged) => void)[], logs: [] as ((id: string) => void)[], pull: [] as ((p: PullStep) => void)[], open: [] as ((name: string) => void)[] }
  const settings: Settings = { switchMode: 'env', dockerContexts: true, notifications: true, theme: 'system' }
  const profiles: ProfileFile[] = [{ shell: 'bash', path: '/home/u/.bashrc', state: 'absent', reason: null, hint: null, block: '# >>> berth >>>\n. env.sh\n# <<< berth <<<\n', wholeFile: false }]
  const accounts: AccountView[] = []
  // `followed`: lines a followed container wrote that the view has not taken yet.
  const docker = { containers: [] as ContainerRow[], followed: [] as Line[] }
  const api = {
    listMachines: vi.fn(async () => [] as MachineView[]),
    refresh: vi.fn(async () => [] as MachineView[]),
    driverCatalog: vi.fn(async () => [qemu, generic]),
    optionChoices: vi.fn(async (_driver: string, option: string) =>
      option.endsWith('region') ? [{ value: 'nyc3', label: 'nyc3 — New York 3' }, { value: 'ams3', label: 'ams3 — Amsterdam 3' }] : []),
    validateCreate: vi.fn(async () => undefined),
    createMachine: vi.fn(async (r: { name: string }) => r.name),
    cancelCreate: vi.fn(async () => undefined),
    quickstartPlan: vi.fn(async () => ({ name: 'default', driver: 'qemu', options: { 'qemu-cpu-count': 1, 'qemu-memory': 4096 }, summary: 'QEMU virtual machine, 1 CPUs, 4096 MB' })),
    openPort: vi.fn(async () => undefined),
    machineAction: vi.fn(async () => undefined),
    removeMachine: vi.fn(async () => undefined),
    useMachine: vi.fn(async () => undefined),
    envCommand: vi.fn(async (n: string) => `eval "$(berth env ${n})"`),
    openTerminal: vi.fn(async () => undefined),
    getSettings: vi.fn(async () => settings),
    setSettings: vi.fn(async (s: Settings) => s),
    profilesPreview: vi.fn(async () => profiles),
    profilesInstall: vi.fn(async () => profiles.map((p) => ({ ...p, state: 'installed' as const }))),
    profilesUninstall: vi.fn(async () => profiles),
    appInfo: vi.fn(async () => ({ version: '0.1.0', store: '/s', activeEnvFile: '/s/active/env.sh' })),
    frontendReady: vi.fn(async () => undefined),
    listAccounts: vi.fn(async () => [...accounts]),
    addAccount: vi.fn(async (a: NewAccount) => {
      const account = { provider: a.provider, providerTitle: a.provider === 'digitalocean' ? 'DigitalOcean' : 'AWS EC2', name: a.name, added: '2026-11-23T10:00:00Z' }
      accounts.push(account)
      return { account, reaches: 'the DigitalOcean account sammy@example.com (status active, droplet limit 25)' }
    }),
    testAccount: vi.fn(async () => 'the DigitalOcean account sammy@example.com'),
    removeAccount: vi.fn(async (provider: string, name: string) => {
      accounts.splice(accounts.findIndex((a) => a.provider === provider && a.name === name), 1)
    }),
    onMachines: vi.fn(async (cb: (m: MachineView[]) => void) => { handlers.machines.push(cb); return () => {} }),
    onJobProgress: vi.fn(async (cb: (p: JobProgress) => void) => { handlers.progress.push(cb); return () => {} }),
    onJobDone: vi.fn(async (cb: (d: JobDone) => void) => { handlers.done.push(cb); return () => {} }),
    // The machine page: one machine's Docker, kept in `docker`.
    engineOverview: vi.fn(async () => ({ version: '20.10.24', os: 'Debian GNU/Linux 12', kernel: '6.1.0', cpus: 2, memory: 2e9, storageDriver: 'overlay2', containers: docker.containers.length, running: docker.containers.filter((c) => c.state === 'running').length, images: 1, labels: ['provider=generic'] })),
    listContainers: vi.fn(async (_name: string, ids: string[] | null) => docker.containers.filter((c) => !ids || ids.includes(c.id)).map((c) => ({ ...c }))),
    containerAction: vi.fn(async (_name: string, ids: string[], action: ContainerAction) => {
      for (const id of ids) {
        const i = docker.containers.findIndex((c) => c.id === id)
        if (i < 0) throw { kind: 'InvalidInput', message: `no such container "${id}" on the machine`, hint: 'it was removed elsewhere: refresh the list' }
        if (action === 'remove' || action === 'removeWithVolumes') docker.containers.splice(i, 1)
        else docker.containers[i].state = { start: 'running', stop: 'exited', restart: 'running', kill: 'exited', pause: 'paused', unpause: 'running' }[action]
      }
    }),
    containerLogs: vi.fn(async () => logBatch([
      { stream: 'stdout', time: '2026-12-02T03:00:00.000000001Z', text: 'listening on :80' },
      { stream: 'stderr', time: '2026-12-02T03:00:01.000000001Z', text: 'warning: no config' },
    ])),
    listImages: vi.fn(async () => [{ id: 'sha256:0123456789abcdef', tags: ['berth-test/busybox:latest'], size: 2_100_000, created: 1, containers: 2 }]),
    removeImage: vi.fn(async () => undefined),
    pruneImages: vi.fn(async () => 0),
    listVolumes: vi.fn(async () => [{ name: 'shopdata', driver: 'local', usedBy: ['shop-worker-1'] }]),
    removeVolume: vi.fn(async () => undefined),
    pruneVolumes: vi.fn(async () => 0),
    listNetworks: vi.fn(async () => [{ id: 'n1', name: 'bridge', driver: 'bridge', scope: 'local' }]),
    watchMachine: vi.fn(async () => undefined),
    openContainerShell: vi.fn(async () => undefined),
    followLogs: vi.fn(async () => undefined),
    takeLogLines: vi.fn(async () => {
      const lines = docker.followed.splice(0, 5000)
      return { batch: logBatch(lines), more: docker.followed.length > 0, dropped: 0 }
    }),
    onDockerChanged: vi.fn(async (cb: (c: DockerChanged) => void) => { handlers.docker.push(cb); return () => {} }),
    onLogReady: vi.fn(async (cb: (id: string) => void) => { handlers.logs.push(cb); return () => {} }),
    onOpenMachine: vi.fn(async (cb: (name: string) => void) => { handlers.open.push(cb); return () => {} }),
    onPullProgress: vi.fn(async (cb: (p: PullStep) => void) => { handlers.pull.push(cb); return () => {} }),
    // A pull reports two layers, then finishes; a reference starting with "nowhere" fails as a
    // machine without a route to the registry does.
    pullImage: vi.fn(async (name: string, reference: string) => {
      if (reference.startsWith('nowhere')) throw { kind: 'Engine', message: `the machine could not reach the registry for "${reference}": dial tcp: connection refused`, hint: 'Docker pulls from the machine, not from this computer' }
      const step = (layer: string, status: string, current: number | null = null, total: number | null = null) =>
        handlers.pull.forEach((cb) => cb({ name, reference, step: { layer, status, current, total } }))
      step('', `Pulling from ${reference}`)
      step('aaaaaaaaaaaa', 'Downloading', 500_000, 2_000_000)
      step('bbbbbbbbbbbb', 'Already exists')
      step('aaaaaaaaaaaa', 'Downloading', 1_000_000, 2_000_000)
    }),
    runContainer: vi.fn(async (_name: string, request: RunRequest) => {
      if (request.ports.some((p) => !/^\d+(:\d+)?$/.test(p))) throw { kind: 'InvalidInput', message: `port "${request.ports[0]}" is not a port to publish`, hint: 'write HOST:CONTAINER (8080:80)' }
      docker.containers.push(container(request.name || 'eager_turing', { image: request.image, created: 99 }))
      return `id-${request.name}`
    }),
    inspectContainer: vi.fn(async (_name: string, id: string) => JSON.stringify({ Id: id, Config: { Env: ['A=1'] } }, null, 2)),
    diskUsage: vi.fn(async () => ({ images: { count: 1, active: 1, size: 2_100_000, reclaimable: 0 }, containers: { count: 3, active: 2, size: 1000, reclaimable: 0 }, volumes: { count: 1, active: 1, size: 5_000_000, reclaimable: 0 }, buildCache: { count: 0, active: 0, size: 0, reclaimable: 0 }, volumeSizes: [['shopdata', 5_000_000]] as [string, number][] })),
    machineDetails: vi.fn(async (name: string) => ({ driver: 'generic', url: 'tcp://127.0.0.1:1:2376', createdAt: '2026-12-02T06:00:00Z', os: 'Debian GNU/Linux 12 (bookworm)', facts: [['Address', '127.0.0.1'], ['SSH user', 'root']] as [string, string][], logs: [{ label: 'Create log', path: `/store/machines/${name}/create.log`, tail: '2026-12-02T06:00:00Z == Waiting for SSH' }] })),
    saveContainerLogs: vi.fn(async (name: string, id: string) => `/home/me/Downloads/${name}-${id}-1.log`),
  }
  return { api, handlers, accounts, docker }
}

/** A container row as the machine page lists it. */
export function container(name: string, o: Partial<ContainerRow> = {}): ContainerRow {
  return { id: `id-${name}`, name, image: 'berth-test/busybox', state: 'running', status: 'Up 2 minutes', created: 1, ports: [], project: null, ...o }
}
