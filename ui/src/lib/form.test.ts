import { describe, expect, it } from 'vitest'
import { generic, spec } from '../test/fakes'
import { emptyEngine, initialValues, lines, summary, toRequest, validateAll, validateField, validateName } from './form'

describe('create form rules', () => {
  it('names follow docker-machine', () => {
    expect(validateName('dev-1.a')).toBeNull()
    for (const bad of ['', ' ', '-x', '.h', 'a/b', 'a b', 'x'.repeat(64)]) expect(validateName(bad)).not.toBeNull()
  })
  it('validates fields by kind', () => {
    const [addr, , port] = generic.options
    expect(validateField(addr, '')).toMatch(/required/)
    expect(validateField(port, '')).toBeNull()
    expect(validateField(port, '70000')).toMatch(/between 1 and 65535/)
    expect(validateField(port, '2a')).toMatch(/whole number/)
    expect(validateAll(generic, 'ok', { ...initialValues(generic), 'generic-ip-address': '10.0.0.2' })).toEqual({})
  })
  it('checks the bounds and choices the Rust schema declares', () => {
    const cpus = spec({ name: 'qemu-cpu-count', kind: 'int', label: 'CPUs', min: 1, max: 64 })
    expect(validateField(cpus, '0')).toMatch(/between 1 and 64/)
    expect(validateField(cpus, '64')).toBeNull()
    const small = { ...cpus, hostLimit: 8 }
    expect(validateField(small, '8')).toBeNull()
    expect(validateField(small, '9')).toMatch(/between 1 and 8 \(what this computer has\)/)
    const accel = spec({ name: 'qemu-accel', kind: 'string', label: 'Accelerator', choices: ['auto', 'kvm', 'tcg'] })
    expect(validateField(accel, 'tcg')).toBeNull()
    expect(validateField(accel, 'fast')).toMatch(/one of auto, kvm, tcg/)
  })
  it('leaves empty options out of the request (the driver default applies)', () => {
    const v = { ...initialValues(generic), 'generic-ip-address': ' 10.0.0.2 ' }
    const r = toRequest(' dev ', generic, v, { ...emptyEngine(), labels: ['a=b'] }, [])
    expect(r).toEqual({ name: 'dev', driver: 'generic', options: { 'generic-ip-address': '10.0.0.2' }, engine: { ...emptyEngine(), labels: ['a=b'] }, tlsSans: [] })
    expect(summary(generic, v).find((s) => s.label === 'SSH port')?.value).toBe('22 (default)')
    expect(lines(' a \n\n b')).toEqual(['a', 'b'])
  })
})
