import { render, screen } from '@testing-library/svelte'
import userEvent from '@testing-library/user-event'
import { describe, expect, it, vi } from 'vitest'
import { fakeApi } from '../test/fakes'

const fake = fakeApi()
vi.mock('../lib/api', async (orig) => ({ ...(await orig<typeof import('../lib/api')>()), api: fake.api }))
const { default: SettingsPage } = await import('./SettingsPage.svelte')

describe('SettingsPage', () => {
  it('shows the exact profile block before installing it, then installs', async () => {
    const user = userEvent.setup()
    render(SettingsPage, { settings: { switchMode: 'env', dockerContexts: true, notifications: true, theme: 'system' } })
    expect(await screen.findByLabelText('Block for bash')).toHaveTextContent('# >>> berth >>>')
    expect(screen.getByText('/home/u/.bashrc')).toBeInTheDocument()
    expect(screen.getByText('block will be added')).toBeInTheDocument()
    await user.click(screen.getByRole('button', { name: 'Add to my shell profiles' }))
    expect(fake.api.profilesInstall).toHaveBeenCalled()
    expect(await screen.findByRole('button', { name: 'Installed' })).toBeDisabled()
  })

  it('saves the switch mode', async () => {
    const user = userEvent.setup()
    render(SettingsPage, { settings: { switchMode: 'env', dockerContexts: true, notifications: true, theme: 'system' } })
    await user.click(screen.getByRole('radio', { name: /Every terminal follows/ }))
    expect(fake.api.setSettings).toHaveBeenCalledWith(expect.objectContaining({ switchMode: 'context' }))
  })
})
