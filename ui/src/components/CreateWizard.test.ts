import { fireEvent, render, screen, waitFor } from '@testing-library/svelte'
import userEvent from '@testing-library/user-event'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { amazonec2, digitalocean, fakeApi, generic, qemu } from '../test/fakes'

const fake = fakeApi()
vi.mock('../lib/api', async (orig) => ({ ...(await orig<typeof import('../lib/api')>()), api: fake.api }))
const { default: CreateWizard } = await import('./CreateWizard.svelte')

const createRequest = () => fake.api.createMachine.mock.lastCall![0] as { replaceFailed?: boolean }

describe('CreateWizard', () => {
  beforeEach(() => vi.clearAllMocks())

  it('offers only usable drivers and says what the others need', async () => {
    render(CreateWizard, { onclose: () => {} })
    const qemu = await screen.findByRole('button', { name: /QEMU/ })
    expect(qemu).toBeDisabled()
    expect(screen.getByText(/install qemu-system-x86/)).toBeInTheDocument()
    expect(screen.getByRole('button', { name: /Existing server \(SSH\)/ })).toBeEnabled()
    expect(screen.getByRole('heading', { name: 'Cloud' })).toBeInTheDocument()
  })

  it('generates the form from the schema, validates, reviews and creates with live steps', async () => {
    const user = userEvent.setup()
    render(CreateWizard, { onclose: () => {} })
    await user.click(await screen.findByRole('button', { name: /Existing server \(SSH\)/ }))
    // Fields with labels, help and defaults from the schema.
    const address = screen.getByLabelText(/Address/)
    expect(address).toHaveAttribute('aria-required', 'true')
    expect(screen.getByLabelText('SSH port')).toHaveAttribute('placeholder', '22')
    expect(screen.getByText(/IP address or host name of the server/)).toBeInTheDocument()
    // Client-side validation first.
    await user.click(screen.getByRole('button', { name: 'Review' }))
    expect(await screen.findByText('Give the machine a name.')).toBeInTheDocument()
    expect(screen.getByText('Address is required.')).toBeInTheDocument()
    expect(fake.api.validateCreate).not.toHaveBeenCalled()
    await user.type(screen.getByLabelText(/Machine name/), 'dev')
    await user.type(address, '10.203.0.2')
    await user.type(screen.getByLabelText('SSH port'), '99999')
    await user.click(screen.getByRole('button', { name: 'Review' }))
    expect(await screen.findByText(/between 1 and 65535/)).toBeInTheDocument()
    await user.clear(screen.getByLabelText('SSH port'))
    await user.click(screen.getByRole('button', { name: 'Review' }))
    // Review lists what will be used, including defaults.
    expect(await screen.findByRole('heading', { name: 'Review' })).toBeInTheDocument()
    expect(screen.getByText('22 (default)')).toBeInTheDocument()
    await user.click(screen.getByRole('button', { name: 'Create' }))
    expect(fake.api.createMachine).toHaveBeenCalledWith(expect.objectContaining({ name: 'dev', driver: 'generic', options: { 'generic-ip-address': '10.203.0.2' } }))
    // Progress events become a step list; the end shows the result.
    fake.handlers.progress.forEach((h) => h({ job: 'dev', event: { type: 'step', id: 'ssh', title: 'Connecting to root@10.203.0.2:22' } }))
    fake.handlers.progress.forEach((h) => h({ job: 'other', event: { type: 'step', id: 'x', title: 'Not mine' } }))
    expect(await screen.findByText(/Connecting to root@10.203.0.2:22/)).toBeInTheDocument()
    expect(screen.queryByText('Not mine')).toBeNull()
    expect(screen.getByRole('button', { name: 'Cancel' })).toBeInTheDocument()
    fake.handlers.done.forEach((h) => h({ job: 'dev', ok: false, message: 'refused the SSH key', hint: 'add the key to authorized_keys' }))
    expect(await screen.findByText('refused the SSH key')).toBeInTheDocument()
    expect(screen.getByText('add the key to authorized_keys')).toBeInTheDocument()
    expect(createRequest().replaceFailed).toBe(false)
    // Retrying after the failure replaces the failed attempt's record (same name only).
    await user.click(screen.getByRole('button', { name: 'Back to options' }))
    await user.click(screen.getByRole('button', { name: 'Review' }))
    await user.click(await screen.findByRole('button', { name: 'Create' }))
    expect(createRequest().replaceFailed).toBe(true)
  })

  it('a cloud driver picks a stored account and never asks for a token', async () => {
    const user = userEvent.setup()
    fake.api.driverCatalog.mockResolvedValueOnce([qemu, digitalocean, generic])
    fake.api.listAccounts.mockResolvedValueOnce([
      { provider: 'digitalocean', providerTitle: 'DigitalOcean', name: 'work', added: '' },
      { provider: 'digitalocean', providerTitle: 'DigitalOcean', name: 'home', added: '' },
      { provider: 'amazonec2', providerTitle: 'AWS EC2', name: 'aws1', added: '' },
    ])
    render(CreateWizard, { onclose: () => {} })
    await user.click(await screen.findByRole('button', { name: /DigitalOcean/ }))
    const account = screen.getByLabelText('Account') as HTMLSelectElement
    expect([...account.options].map((o) => o.value)).toEqual(['', 'work', 'home'])
    expect(account.value).toBe('work')
    expect(screen.queryByLabelText(/API token/)).toBeNull()
    await user.selectOptions(account, 'home')
    // The region field offers the provider's regions, listed with the chosen account.
    await waitFor(() => expect(fake.api.optionChoices).toHaveBeenCalledWith('digitalocean', 'digitalocean-region', 'home', null))
    const regions = await screen.findByTestId('opt-digitalocean-region-list')
    expect([...regions.querySelectorAll('option')].map((o) => o.value)).toEqual(['nyc3', 'ams3'])
    expect(screen.getByLabelText('Region')).toHaveAttribute('list', 'opt-digitalocean-region-list')
    await user.type(screen.getByLabelText(/Machine name/), 'sea')
    await user.click(screen.getByRole('button', { name: 'Review' }))
    expect(await screen.findByText('home')).toBeInTheDocument()
    expect(screen.queryByText('API token')).toBeNull()
    await user.click(screen.getByRole('button', { name: 'Create' }))
    expect(fake.api.createMachine.mock.lastCall![0]).toMatchObject({ driver: 'digitalocean', options: { 'digitalocean-account': 'home' } })
  })

  it('keeps rarely needed options under "more options", and opens them on an error there', async () => {
    const user = userEvent.setup()
    fake.api.driverCatalog.mockResolvedValueOnce([qemu, amazonec2, generic])
    render(CreateWizard, { onclose: () => {} })
    await user.click(await screen.findByRole('button', { name: /AWS EC2/ }))
    const more = screen.getByText('More AWS EC2 options (2)').closest('details')!
    expect(more.open).toBe(false)
    expect(screen.getByLabelText('Region')).toBeVisible()
    expect(screen.queryByLabelText(/Secret access key/)).toBeNull()
    await user.click(screen.getByText('More AWS EC2 options (2)'))
    const port = screen.getByLabelText(/SSH port/)
    await user.clear(port)
    await user.type(port, '70000')
    await user.click(screen.getByText('More AWS EC2 options (2)'))
    expect(more.open).toBe(false)
    await user.type(screen.getByLabelText(/Machine name/), 'ec2')
    await user.click(screen.getByRole('button', { name: 'Review' }))
    await waitFor(() => expect(more.open).toBe(true))
    expect(screen.getByText(/SSH port must be between 1 and 65535/)).toBeVisible()
    expect(fake.api.createMachine).not.toHaveBeenCalled()
  })

  it('shows the server-side validation error with its hint', async () => {
    fake.api.validateCreate.mockRejectedValueOnce({ kind: 'AlreadyExists', message: 'a machine named "dev" already exists', hint: 'choose another name' })
    const user = userEvent.setup()
    render(CreateWizard, { onclose: () => {} })
    await user.click(await screen.findByRole('button', { name: /Existing server/ }))
    await user.type(screen.getByLabelText(/Machine name/), 'dev')
    await user.type(screen.getByLabelText(/Address/), '10.0.0.2')
    await fireEvent.submit(screen.getByRole('button', { name: 'Review' }).closest('form')!)
    await waitFor(() => expect(screen.getByRole('alert')).toHaveTextContent('already exists'))
    expect(screen.getByText('choose another name')).toBeInTheDocument()
  })
})
