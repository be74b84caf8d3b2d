import { render, screen } from '@testing-library/svelte'
import userEvent from '@testing-library/user-event'
import { describe, expect, it, vi } from 'vitest'
import { machine } from '../test/fakes'
import MachineList from './MachineList.svelte'

describe('MachineList', () => {
  const props = () => ({ onuse: vi.fn(), onaction: vi.fn(), onremove: vi.fn(), oncopy: vi.fn(), onterminal: vi.fn() })

  it('shows state, active marker, and errors with what to do', () => {
    const p = props()
    render(MachineList, { ...p, machines: [machine('dev', { active: true }), machine('bad', { state: 'Error', error: 'dockerd did not start', hint: 'check --engine-opt' })] })
    expect(screen.getByRole('button', { name: 'dev is the active host' })).toHaveAttribute('aria-pressed', 'true')
    expect(screen.getByRole('button', { name: 'Make bad the active host' })).toBeDisabled()
    expect(screen.getByText('dockerd did not start')).toBeInTheDocument()
    expect(screen.getByText('check --engine-opt')).toBeInTheDocument()
    expect(screen.getAllByTestId('state').map((s) => s.textContent)).toEqual(['Running', 'Error'])
  })

  it('switches, and offers actions from a keyboard-usable menu', async () => {
    const p = props()
    const user = userEvent.setup()
    render(MachineList, { ...p, machines: [machine('dev'), machine('vm', { driver: 'qemu', state: 'Stopped' })] })
    await user.click(screen.getByRole('button', { name: 'Make dev the active host' }))
    expect(p.onuse).toHaveBeenCalledWith('dev')
    await user.click(screen.getByRole('button', { name: 'Actions for vm' }))
    const menu = screen.getByRole('menu', { name: 'Actions for vm' })
    expect(menu).toBeInTheDocument()
    expect(screen.getByRole('menuitem', { name: 'Start' })).toHaveFocus()
    await user.keyboard('{ArrowDown}')
    await user.keyboard('{Escape}')
    expect(screen.queryByRole('menu')).toBeNull()
    await user.click(screen.getByRole('button', { name: 'Actions for dev' }))
    expect(screen.queryByRole('menuitem', { name: 'Start' })).toBeNull()
    await user.click(screen.getByRole('menuitem', { name: 'Copy env command' }))
    expect(p.oncopy).toHaveBeenCalledWith('dev')
    await user.click(screen.getByRole('button', { name: 'Actions for dev' }))
    await user.click(screen.getByRole('menuitem', { name: 'Remove…' }))
    expect(p.onremove).toHaveBeenCalledWith('dev')
  })
})
