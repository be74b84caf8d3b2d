import { describe, expect, it } from 'vitest'
import { generic } from '../test/fakes'
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
  it('leaves empty options out of the request (the driver default applies)', () => {
    const v = { ...initialValues(generic), 'generic-ip-address': ' 10.0.0.2 ' }
    const r = toRequest(' dev ', generic, v, { ...emptyEngine(), labels: ['a=b'] }, [])
    expect(r).toEqual({ name: 'dev', driver: 'generic', options: { 'generic-ip-address': '10.0.0.2' }, engine: { ...emptyEngine(), labels: ['a=b'] }, tlsSans: [] })
    expect(summary(generic, v).find((s) => s.label === 'SSH port')?.value).toBe('22 (default)')
    expect(lines(' a \n\n b')).toEqual(['a', 'b'])
  })
})
