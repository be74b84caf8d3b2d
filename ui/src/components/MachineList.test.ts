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

  it('shows a local VM\'s published ports (a click opens the browser) and its folders, with why one is missing', async () => {
    const p = { ...props(), onopenport: vi.fn() }
    const user = userEvent.setup()
    const ports = [
      { proto: 'tcp' as const, hostIp: '127.0.0.1', port: 8080, containers: ['web'], problem: '' },
      { proto: 'tcp' as const, hostIp: '127.0.0.1', port: 5432, containers: ['db'], problem: 'tcp port 5432 is in use on this computer by another program' },
      { proto: 'udp' as const, hostIp: '127.0.0.1', port: 5353, containers: ['dns'], problem: '' },
    ]
    const shares = [
      { host: '/home/me', guest: '/home/me', problem: '' },
      { host: '/data', guest: '/data', problem: 'virtiofsd was not found' },
    ]
    render(MachineList, { ...p, machines: [machine('vm', { driver: 'qemu', ports, shares })] })
    await user.click(screen.getByRole('button', { name: '8080 ↗' }))
    expect(p.onopenport).toHaveBeenCalledWith(8080)
    expect(screen.getByText(/5432 not forwarded: tcp port 5432 is in use/)).toBeInTheDocument()
    expect(screen.getByText('5353/udp')).toBeInTheDocument()
    expect(screen.getByText(/📁 \/home\/me$/)).toBeInTheDocument()
    expect(screen.getByText(/\/data not mounted: virtiofsd was not found/)).toBeInTheDocument()
  })

  it('offers one button for a local machine when there is none, or says why it cannot', async () => {
    const p = { ...props(), onquickstart: vi.fn() }
    const user = userEvent.setup()
    const { unmount } = render(MachineList, { ...p, machines: [], quickstart: { summary: 'QEMU virtual machine, 1 CPUs, 4096 MB' } })
    expect(screen.getByText(/QEMU virtual machine, 1 CPUs, 4096 MB/)).toBeInTheDocument()
    await user.click(screen.getByRole('button', { name: 'Create a local Docker machine' }))
    expect(p.onquickstart).toHaveBeenCalled()
    unmount()
    render(MachineList, { ...p, machines: [], quickstart: { problem: 'this computer has no local VM driver ready to use', hint: 'install QEMU' } })
    expect(screen.queryByRole('button', { name: 'Create a local Docker machine' })).toBeNull()
    expect(screen.getByText(/no local VM driver ready to use \(install QEMU\)/)).toBeInTheDocument()
  })
})
