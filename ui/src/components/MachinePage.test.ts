import { render, screen, within } from '@testing-library/svelte'
import userEvent from '@testing-library/user-event'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { container, fakeApi } from '../test/fakes'

const fake = fakeApi()
vi.mock('../lib/api', async (orig) => ({ ...(await orig<typeof import('../lib/api')>()), api: fake.api }))
const { default: MachinePage } = await import('./MachinePage.svelte')

describe('MachinePage', () => {
  beforeEach(() => {
    vi.clearAllMocks()
    fake.handlers.docker.splice(0)
    fake.handlers.logs.splice(0)
    fake.docker.containers.splice(0, fake.docker.containers.length,
      container('web', { ports: [{ privatePort: 80, publicPort: 8080, proto: 'tcp', hostIp: '0.0.0.0', url: 'http://127.0.0.1:8080' }] }),
      container('shop-api-1', { project: 'shop', created: 2 }),
      container('shop-db-1', { project: 'shop', state: 'exited', status: 'Exited (0) 1 minute ago', ports: [{ privatePort: 5432, publicPort: 5432, proto: 'tcp', hostIp: '0.0.0.0', url: 'http://10.203.0.2:5432' }] }),
    )
  })

  it('shows the engine and the containers grouped by compose project, with port links', async () => {
    const user = userEvent.setup()
    render(MachinePage, { name: 'dev', onback: vi.fn() })
    expect(await screen.findByText(/Docker 20\.10\.24 · Debian GNU\/Linux 12/)).toBeInTheDocument()
    expect(screen.getByText(/2 of 3 containers running/)).toBeInTheDocument()
    const table = screen.getByRole('table', { name: 'Containers' })
    const rows = within(table).getAllByRole('row').map((r) => r.getAttribute('data-container') ?? r.textContent?.trim())
    expect(rows).toEqual(['shop (compose)', 'shop-api-1', 'shop-db-1', 'web'])
    await user.click(screen.getByRole('button', { name: '8080 ↗' }))
    expect(fake.api.openPort).toHaveBeenCalledWith(8080)
    expect(screen.getByRole('button', { name: 'Open a shell in shop-db-1' })).toBeDisabled()
    await user.click(screen.getByRole('button', { name: 'Open a shell in web' }))
    expect(fake.api.openContainerShell).toHaveBeenCalledWith('dev', 'id-web')
    expect(screen.getByText('10.203.0.2:5432')).toBeInTheDocument()
    await user.type(screen.getByLabelText('Filter containers'), 'db')
    expect(within(table).queryByText('web')).toBeNull()
    expect(within(table).getByText('shop-db-1')).toBeInTheDocument()
  })

  it('acts on the selected containers and asks before removing, with the volumes option', async () => {
    const user = userEvent.setup()
    render(MachinePage, { name: 'dev', onback: vi.fn() })
    await user.click(await screen.findByLabelText('Select web'))
    await user.click(screen.getByLabelText('Select shop-api-1'))
    await user.click(screen.getByRole('button', { name: 'Stop' }))
    expect(fake.api.containerAction).toHaveBeenCalledWith('dev', ['id-web', 'id-shop-api-1'], 'stop')
    expect(await screen.findByText(/0 of 3 containers running/)).toBeInTheDocument()
    await user.click(screen.getByRole('button', { name: 'Remove…' }))
    const dialog = screen.getByRole('alertdialog')
    expect(dialog).toHaveTextContent('Remove 2 containers?')
    await user.click(within(dialog).getByRole('checkbox'))
    await user.click(within(dialog).getByRole('button', { name: 'Remove' }))
    expect(fake.api.containerAction).toHaveBeenLastCalledWith('dev', ['id-web', 'id-shop-api-1'], 'removeWithVolumes')
    expect(await screen.findByText(/0 of 1 containers running/)).toBeInTheDocument()
  })

  it('says why an action failed, with what to do, and recovers', async () => {
    const user = userEvent.setup()
    render(MachinePage, { name: 'dev', onback: vi.fn() })
    await user.click(await screen.findByLabelText('Select web'))
    fake.docker.containers.splice(2, 1) // removed elsewhere
    fake.docker.containers.splice(0, 1)
    await user.click(screen.getByRole('button', { name: 'Start' }))
    const alert = await screen.findByRole('alert')
    expect(alert).toHaveTextContent('no such container "id-web" on the machine')
    expect(alert).toHaveTextContent('refresh the list')
    expect(within(screen.getByRole('table', { name: 'Containers' })).queryByText('web')).toBeNull()
  })

  it('follows changes made elsewhere (the event stream) and says when live updates pause', async () => {
    render(MachinePage, { name: 'dev', onback: vi.fn() })
    expect(await screen.findByText('web')).toBeInTheDocument()
    expect(fake.api.watchMachine).toHaveBeenCalledWith('dev')
    fake.docker.containers.push(container('made-by-the-cli', { created: 9 }))
    fake.handlers.docker.forEach((cb) => cb({ name: 'other', error: null }))
    fake.handlers.docker.forEach((cb) => cb({ name: 'dev', error: null }))
    expect(await screen.findByText('made-by-the-cli')).toBeInTheDocument()
    fake.handlers.docker.forEach((cb) => cb({ name: 'dev', error: 'connection refused' }))
    expect(await screen.findByText(/Live updates paused: connection refused/)).toBeInTheDocument()
    fake.handlers.docker.forEach((cb) => cb({ name: 'dev', error: null }))
    await vi.waitFor(() => expect(screen.queryByText(/Live updates paused/)).toBeNull())
  })

  it('follows a container\'s output, drawing only the last lines of a long log', async () => {
    const user = userEvent.setup()
    const { unmount } = render(MachinePage, { name: 'dev', onback: vi.fn() })
    const web = (await screen.findByText('web')).closest('tr')!
    await user.click(within(web).getByRole('button', { name: 'Logs' }))
    const logs = await screen.findByRole('region', { name: 'Logs of web' })
    await user.click(within(logs).getByLabelText('Follow'))
    expect(fake.api.followLogs).toHaveBeenLastCalledWith('dev', 'id-web')
    const lines = Array.from({ length: 100_000 }, (_, i) => ({ stream: 'stdout' as const, time: 't', text: `line ${i}` }))
    fake.handlers.logs.forEach((cb) => cb({ id: 'id-web', lines }))
    expect(await within(logs).findByText('line 99999')).toBeInTheDocument()
    expect(within(logs).queryByText('line 0')).toBeNull()
    expect(within(logs).getByText(/Showing the last 2000 of 100002 lines/)).toBeInTheDocument()
    unmount()
    expect(fake.api.followLogs).toHaveBeenLastCalledWith('dev', null)
    expect(fake.api.watchMachine).toHaveBeenLastCalledWith(null)
  })

  it('shows logs with stderr marked, searchable; images and volumes with confirmations', async () => {
    const user = userEvent.setup()
    render(MachinePage, { name: 'dev', onback: vi.fn() })
    const web = (await screen.findByText('web')).closest('tr')!
    await user.click(within(web).getByRole('button', { name: 'Logs' }))
    const logs = await screen.findByRole('region', { name: 'Logs of web' })
    expect(within(logs).getByText('warning: no config')).toHaveClass('stderr')
    expect(within(logs).getByText('listening on :80')).toHaveClass('stdout')
    expect(fake.api.containerLogs).toHaveBeenCalledWith('dev', 'id-web', 1000)
    await user.type(within(logs).getByLabelText('Search the logs'), 'warn')
    expect(within(logs).queryByText('listening on :80')).toBeNull()
    await user.click(screen.getByRole('tab', { name: /Images/ }))
    await user.click(screen.getByRole('button', { name: 'Remove berth-test/busybox:latest' }))
    await user.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Remove' }))
    expect(fake.api.removeImage).toHaveBeenCalledWith('dev', 'sha256:0123456789abcdef', false)
    await user.click(screen.getByRole('tab', { name: /Volumes/ }))
    expect(screen.getByText('used by shop-worker-1')).toBeInTheDocument()
    await user.click(screen.getByRole('button', { name: 'Prune…' }))
    await user.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Prune' }))
    expect(fake.api.pruneVolumes).toHaveBeenCalledWith('dev')
  })
})
