// Create-form logic: defaults, validation and the request, kept out of the components so
// it is tested on its own. The server validates again (validate_create) before creating.
import type { CreateRequest, DriverCard, EngineForm, OptionSpec, OptionValue } from './types'

export const NAME_RULE = /^[a-zA-Z0-9][a-zA-Z0-9.-]*$/

export function validateName(name: string): string | null {
  const n = name.trim()
  if (!n) return 'Give the machine a name.'
  if (n.length > 63) return 'At most 63 characters.'
  if (!NAME_RULE.test(n)) return 'Letters, digits, "." and "-", starting with a letter or digit.'
  return null
}

export function initialValues(driver: DriverCard): Record<string, OptionValue> {
  const v: Record<string, OptionValue> = {}
  for (const o of driver.options) {
    if (o.kind === 'bool') v[o.name] = false
    else if (o.kind === 'stringlist') v[o.name] = []
    else v[o.name] = ''
  }
  return v
}

export function validateField(spec: OptionSpec, value: OptionValue | undefined): string | null {
  if (spec.kind === 'bool' || spec.kind === 'stringlist') return null
  const s = typeof value === 'string' ? value.trim() : ''
  if (!s) return spec.required ? `${spec.label} is required.` : null
  if (spec.kind === 'int') {
    if (!/^\d+$/.test(s)) return `${spec.label} must be a whole number.`
    // The bounds the Rust side checks too (OptionSpec::range); a VM's size also stays within
    // what this computer has.
    const n = Number(s)
    const hi = upperBound(spec)
    if (spec.min !== null && hi !== null && (n < spec.min || n > hi)) {
      return hi === spec.hostLimit && hi !== spec.max
        ? `${spec.label} must be between ${spec.min} and ${hi} (what this computer has).`
        : `${spec.label} must be between ${spec.min} and ${hi}.`
    }
  }
  if (spec.choices.length > 0 && !spec.choices.includes(s)) return `${spec.label} must be one of ${spec.choices.filter(Boolean).join(', ')}.`
  if (/[\u0000-\u001f]/.test(s)) return `${spec.label} contains control characters.`
  return null
}

/** The form's upper bound of a number: the schema's, or what this computer has when less. */
export function upperBound(spec: OptionSpec): number | null {
  if (spec.max === null) return spec.hostLimit
  return spec.hostLimit === null ? spec.max : Math.min(spec.max, spec.hostLimit)
}

/** The options the form shows: secrets never go through a form (accounts hold them). */
export function formOptions(driver: DriverCard): OptionSpec[] {
  return driver.options.filter((o) => o.kind !== 'secret')
}

/** The form's options split into the ones shown first and the ones under "more options". */
export function optionGroups(driver: DriverCard): { main: OptionSpec[]; more: OptionSpec[] } {
  const all = formOptions(driver)
  return { main: all.filter((o) => !o.advanced), more: all.filter((o) => o.advanced) }
}

export function validateAll(driver: DriverCard, name: string, values: Record<string, OptionValue>): Record<string, string> {
  const errors: Record<string, string> = {}
  const n = validateName(name)
  if (n) errors['name'] = n
  for (const o of driver.options) {
    const e = validateField(o, values[o.name])
    if (e) errors[o.name] = e
  }
  return errors
}

/** Non-empty trimmed lines of a textarea. */
export function lines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0)
}

export function emptyEngine(): EngineForm {
  return { labels: [], env: [], opts: [], insecureRegistries: [], registryMirrors: [], storageDriver: '', installUrl: '', noLiveRestore: false }
}

export function toRequest(name: string, driver: DriverCard, values: Record<string, OptionValue>, engine: EngineForm, tlsSans: string[]): CreateRequest {
  const options: Record<string, OptionValue> = {}
  for (const o of driver.options) {
    const v = values[o.name]
    if (typeof v === 'string' && v.trim() === '') continue
    if (Array.isArray(v) && v.length === 0) continue
    if (v === false) continue
    options[o.name] = typeof v === 'string' ? v.trim() : v
  }
  return { name: name.trim(), driver: driver.name, options, engine, tlsSans }
}

/** What the review step lists: label and the value that will be used. */
export function summary(driver: DriverCard, values: Record<string, OptionValue>): { label: string; value: string }[] {
  return formOptions(driver).map((o) => {
    const v = values[o.name]
    let shown: string
    if (o.kind === 'bool') shown = v ? 'yes' : 'no'
    else if (Array.isArray(v)) shown = v.join(', ') || '—'
    else if (o.kind === 'account') shown = (typeof v === 'string' && v.trim()) || 'default'
    else shown = (typeof v === 'string' && v.trim()) || (o.default ? `${o.default} (default)` : '—')
    return { label: o.label, value: shown }
  })
}

export const KIND_TITLES: Record<string, { title: string; blurb: string }> = {
  local: { title: 'Local VM', blurb: 'A virtual machine on this computer.' },
  cloud: { title: 'Cloud', blurb: 'A server created with your cloud account.' },
  existing: { title: 'Existing server', blurb: 'A machine you already have.' },
}
