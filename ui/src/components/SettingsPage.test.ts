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

  it('shows why Berth refuses a profile and does not offer to add the block', async () => {
    const user = userEvent.setup()
    const block = '# >>> berth >>>\n. env.sh\n# <<< berth <<<\n'
    const ps = '/home/u/.config/powershell/Microsoft.PowerShell_profile.ps1'
    fake.api.profilesPreview.mockResolvedValueOnce([
      { shell: 'bash', path: '/home/u/.bashrc', state: 'installed', reason: null, hint: null, block, wholeFile: false },
      {
        shell: 'powershell', path: ps, state: 'unreadable', block, wholeFile: false,
        reason: `cannot edit ${ps}: it contains NUL bytes (UTF-16 without a byte-order mark, or not a text file)`,
        hint: 'save it in one of those or add the lines yourself',
      },
      {
        shell: 'zsh', path: '/home/u/.zshrc', state: 'damaged', block, wholeFile: false,
        reason: "Berth's block in /home/u/.zshrc is damaged: line 3 starts it but no line ends it",
        hint: 'fix or remove the lines between the markers yourself, then try again',
      },
    ])
    render(SettingsPage, { settings: { switchMode: 'env', dockerContexts: true, notifications: true, theme: 'system' } })
    expect(await screen.findByText('cannot be read')).toBeInTheDocument()
    expect(screen.getByLabelText('Why Berth leaves powershell alone')).toHaveTextContent(`cannot edit ${ps}: it contains NUL bytes`)
    expect(screen.getByLabelText('Why Berth leaves powershell alone')).toHaveTextContent('add the lines yourself')
    expect(screen.getByText('block is damaged')).toBeInTheDocument()
    expect(screen.getByLabelText('Why Berth leaves zsh alone')).toHaveTextContent('line 3 starts it but no line ends it')
    expect(screen.queryByLabelText('Why Berth leaves bash alone')).not.toBeInTheDocument()
    expect(screen.getByRole('button', { name: 'Add to my shell profiles' })).toBeDisabled()
    // Removing cannot check a file it cannot read either.
    expect(screen.getByRole('button', { name: 'Remove from my shell profiles' })).toBeDisabled()
    expect(screen.getByText(/Berth changes all of these files or none/)).toBeInTheDocument()
    // Once the user fixed the files, checking again offers "Add".
    await user.click(screen.getByRole('button', { name: 'Check again' }))
    expect(await screen.findByRole('button', { name: 'Add to my shell profiles' })).toBeEnabled()
    expect(screen.queryByRole('button', { name: 'Check again' })).not.toBeInTheDocument()
  })

  it('holds back "Add" for a read-only profile but still offers removal elsewhere', async () => {
    const block = '# >>> berth >>>\n. env.sh\n# <<< berth <<<\n'
    fake.api.profilesPreview.mockResolvedValueOnce([
      { shell: 'bash', path: '/home/u/.bashrc', state: 'installed', reason: null, hint: null, block, wholeFile: false },
      { shell: 'zsh', path: '/home/u/.zshrc', state: 'protected', reason: '/home/u/.zshrc is read-only', hint: 'make it writable (chmod u+w)', block, wholeFile: false },
    ])
    render(SettingsPage, { settings: { switchMode: 'env', dockerContexts: true, notifications: true, theme: 'system' } })
    expect(await screen.findByText('Berth will not change it')).toBeInTheDocument()
    expect(screen.getByLabelText('Why Berth leaves zsh alone')).toHaveTextContent('/home/u/.zshrc is read-only')
    expect(screen.getByRole('button', { name: 'Add to my shell profiles' })).toBeDisabled()
    expect(screen.getByRole('button', { name: 'Remove from my shell profiles' })).toBeEnabled()
  })

  it('saves the switch mode', async () => {
    const user = userEvent.setup()
    render(SettingsPage, { settings: { switchMode: 'env', dockerContexts: true, notifications: true, theme: 'system' } })
    await user.click(screen.getByRole('radio', { name: /Every terminal follows/ }))
    expect(fake.api.setSettings).toHaveBeenCalledWith(expect.objectContaining({ switchMode: 'context' }))
  })
})
