import { render, screen, within } from '@testing-library/svelte'
import userEvent from '@testing-library/user-event'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { fakeApi } from '../test/fakes'

const fake = fakeApi()
vi.mock('../lib/api', async (orig) => ({ ...(await orig<typeof import('../lib/api')>()), api: fake.api }))
const { default: AccountsPage } = await import('./AccountsPage.svelte')

describe('AccountsPage', () => {
  beforeEach(() => {
    fake.accounts.splice(0)
    vi.clearAllMocks()
  })

  it('checks a token with the provider before saving, then lists the account without its secret', async () => {
    const user = userEvent.setup()
    render(AccountsPage)
    expect(await screen.findByText('No cloud accounts yet.')).toBeInTheDocument()
    await user.click(screen.getByRole('button', { name: 'Add account' }))
    const save = screen.getByRole('button', { name: 'Check and save' })
    expect(save).toBeDisabled()
    const secret = screen.getByLabelText('Personal access token')
    expect(secret).toHaveAttribute('type', 'password')
    await user.clear(screen.getByLabelText('Account name'))
    await user.type(screen.getByLabelText('Account name'), 'work')
    await user.type(secret, 'dop_v1_supersecret')
    await user.click(save)
    expect(fake.api.addAccount).toHaveBeenCalledWith({ provider: 'digitalocean', name: 'work', token: 'dop_v1_supersecret' })
    expect(await screen.findByRole('status')).toHaveTextContent('it works for the DigitalOcean account sammy@example.com')
    const row = screen.getByRole('row', { name: /work/ })
    expect(within(row).getByText('DigitalOcean')).toBeInTheDocument()
    expect(document.body.textContent).not.toContain('dop_v1_supersecret')
    expect(screen.queryByLabelText('Personal access token')).toBeNull()
  })

  it('keeps the form and says why when the provider refuses the token', async () => {
    const user = userEvent.setup()
    fake.api.addAccount.mockRejectedValueOnce({ kind: 'Driver', message: 'DigitalOcean refused the credentials (401)', hint: 'check the token' })
    render(AccountsPage)
    await user.click(await screen.findByRole('button', { name: 'Add account' }))
    await user.type(screen.getByLabelText('Personal access token'), 'dop_v1_wrong')
    await user.click(screen.getByRole('button', { name: 'Check and save' }))
    expect(await screen.findByRole('alert')).toHaveTextContent('refused the credentials (401)')
    expect(screen.getByLabelText('Personal access token')).toHaveValue('dop_v1_wrong')
    expect(fake.accounts).toHaveLength(0)
  })

  it('asks for the access key ID for AWS, and removes an account after a confirmation', async () => {
    const user = userEvent.setup()
    render(AccountsPage)
    await user.click(await screen.findByRole('button', { name: 'Add account' }))
    await user.selectOptions(screen.getByLabelText('Provider'), 'amazonec2')
    await user.type(screen.getByLabelText('Secret access key'), 'wJalr')
    expect(screen.getByRole('button', { name: 'Check and save' })).toBeDisabled()
    await user.type(screen.getByLabelText('Access key ID'), 'AKIAEXAMPLE')
    await user.click(screen.getByRole('button', { name: 'Check and save' }))
    expect(fake.api.addAccount).toHaveBeenCalledWith({ provider: 'amazonec2', name: 'default', accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'wJalr' })
    await user.click(await screen.findByRole('button', { name: 'Remove default' }))
    await user.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Remove' }))
    expect(fake.api.removeAccount).toHaveBeenCalledWith('amazonec2', 'default')
    expect(await screen.findByText('No cloud accounts yet.')).toBeInTheDocument()
  })
})
