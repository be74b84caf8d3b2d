// What the GUI suite stands on: a private Berth world (store, HOME, docker config), a real test
// host (tests/testhost/testhost.sh), the fake tray host (sni_watcher.py), tauri-driver driving
// the real app binary, and helpers to read the window, the tray's D-Bus menu and the files the
// app writes. Everything started here is stopped by PID in `stopAll`.
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Builder, By, until } from 'selenium-webdriver'

export { By, until }

const HERE = path.dirname(fileURLToPath(import.meta.url))
export const ROOT = path.resolve(HERE, '../..')
const TESTHOST = path.join(ROOT, 'tests/testhost/testhost.sh')
// Debian's python3 has python3-dbus and python3-gi; a pyenv one first on PATH may not.
const PY = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'

export const APP_BIN = required('BERTH_APP_BIN')
export const CLI_BIN = required('BERTH_CLI_BIN')
export const ARTIFACTS = process.env.BERTH_GUI_ARTIFACTS || fs.mkdtempSync(path.join(os.tmpdir(), 'berth-gui-artifacts-'))

function required(name) {
  const v = process.env[name]
  if (!v || !fs.existsSync(v)) throw new Error(`${name} must name an existing file (got ${v}); run tests/gui/run.sh`)
  return v
}

const children = []

function track(child, what) {
  children.push({ child, what })
  child.on('error', (e) => console.error(`${what}: ${e.message}`))
  return child
}

export async function stopAll() {
  for (const { child } of children.reverse()) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGTERM')
      } catch {}
    }
  }
  await sleep(300)
  for (const { child } of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL')
      } catch {}
    }
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

export async function waitFor(what, fn, timeoutMs = 10000, stepMs = 50) {
  const start = Date.now()
  let last
  while (Date.now() - start < timeoutMs) {
    try {
      last = await fn()
      if (last) return last
    } catch (e) {
      last = e
    }
    await sleep(stepMs)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`)
}

/** A private world for the app: nothing it writes lands in the real HOME or ~/.docker. */
export function makeWorld() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-gui-'))
  const w = {
    dir,
    store: path.join(dir, 'store'),
    home: path.join(dir, 'home'),
    dockerConfig: path.join(dir, 'docker-config'),
  }
  // A user with fish and zsh (a .zshrc of their own, which must survive untouched).
  fs.mkdirSync(path.join(w.home, '.config/fish'), { recursive: true })
  w.zshrc = '# my own zsh settings\nexport KEEP_ME=1\n'
  fs.writeFileSync(path.join(w.home, '.zshrc'), w.zshrc)
  w.env = {
    ...process.env,
    BERTH_STORAGE_PATH: w.store,
    HOME: w.home,
    DOCKER_CONFIG: w.dockerConfig,
    XDG_CONFIG_HOME: path.join(w.home, '.config'),
    XDG_DATA_HOME: path.join(w.home, '.local/share'),
    XDG_CACHE_HOME: path.join(w.home, '.cache'),
    BERTH_EXIT_ON_CLOSE: '1',
    PATH: `${path.dirname(CLI_BIN)}:${process.env.PATH}`,
  }
  for (const v of ['DOCKER_HOST', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_MACHINE_NAME', 'DOCKER_CONTEXT']) delete w.env[v]
  return w
}

export function run(cmd, args, env, opts = {}) {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', timeout: opts.timeout ?? 120000 })
  return { code: r.status, out: r.stdout ?? '', err: r.stderr ?? '', text: `${r.stdout ?? ''}${r.stderr ?? ''}` }
}

export function runOk(cmd, args, env, opts) {
  const r = run(cmd, args, env, opts)
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}):\n${r.text}`)
  return r.out
}

export const berth = (world, ...args) => run(CLI_BIN, args, world.env)
export const sh = (world, script) => run('sh', ['-c', script], world.env)

export function testhostUp(n) {
  const out = runOk(TESTHOST, ['up', String(n)], process.env, { timeout: 180000 })
  const info = Object.fromEntries(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
  return { n, ip: info.BERTH_TH_IP, key: info.BERTH_TH_KEY, state: info.BERTH_TH_STATE }
}

/** Debian's docker-registry on a test host's loopback (which Docker trusts over plain HTTP);
 * its config and data in the host's /tmp (its state dir's tmp). stop() kills it by PID. */
export async function startRegistry(host) {
  const port = await freePort()
  const dir = fs.mkdtempSync(path.join(host.state, 'tmp', 'registry-'))
  const inside = path.join('/tmp', path.basename(dir))
  fs.writeFileSync(path.join(dir, 'config.yml'), `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${inside}/data\nhttp:\n  addr: 127.0.0.1:${port}\n`)
  const pid = runOk(TESTHOST, ['exec', String(host.n), 'sh', '-c', `docker-registry serve ${inside}/config.yml >${inside}/log 2>&1 & echo $!`], process.env).trim()
  const stop = () => { run('kill', [pid], process.env); fs.rmSync(dir, { recursive: true, force: true }) }
  await waitFor('the registry', () => run(TESTHOST, ['exec', String(host.n), 'busybox', 'wget', '-q', '-O-', `http://127.0.0.1:${port}/v2/`], process.env).code === 0, 10000).catch((e) => { stop(); throw e })
  return { port, stop }
}

/** Runs a command inside test host `n` (its network and mount namespaces); its output. */
export function testhostExec(n, ...args) {
  return runOk(TESTHOST, ['exec', String(n), ...args], process.env)
}

export function testhostDown(n) {
  run(TESTHOST, ['down', String(n)], process.env)
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
    s.on('error', reject)
  })
}

async function portOpen(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1')
    c.on('connect', () => {
      c.destroy()
      resolve(true)
    })
    c.on('error', () => resolve(false))
  })
}

/** Resolves when the child prints `text` on stdout; rejects if it exits first. */
function readyLine(child, text, what) {
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => String(d).includes(text) && resolve())
    child.on('exit', (c) => reject(new Error(`${what} exited (${c})`)))
  })
}

/** The fake tray host: the app's StatusNotifierItem registers with it. */
export async function startTrayHost(world) {
  const items = path.join(world.dir, 'tray-items.txt')
  world.notifications = path.join(world.dir, 'notifications.jsonl')
  const p = track(spawn(PY, [path.join(HERE, 'sni_watcher.py'), items, world.notifications], { env: world.env, stdio: ['ignore', 'pipe', 'inherit'] }), 'sni_watcher')
  await readyLine(p, 'watcher ready', 'sni_watcher')
  return items
}

export async function trayItem(itemsFile) {
  return waitFor('the app to register its tray icon', () => {
    const line = fs.existsSync(itemsFile) && fs.readFileSync(itemsFile, 'utf8').split('\n').find(Boolean)
    return line ? line.split(' ') : null
  }, 20000)
}

export function trayLayout(world, item) {
  return JSON.parse(runOk(PY, [path.join(HERE, 'tray_client.py'), item[0], item[1], 'layout'], world.env))
}

export function trayClick(world, item, label) {
  runOk(PY, [path.join(HERE, 'tray_client.py'), item[0], item[1], 'click', label], world.env)
}

/** tauri-driver (and through it WebKitWebDriver) launching the real app binary. */
export async function startApp(world) {
  const port = await freePort()
  const nativePort = await freePort()
  const driverBin = process.env.TAURI_DRIVER || path.join(os.homedir(), '.cargo/bin/tauri-driver')
  track(spawn(driverBin, ['--port', String(port), '--native-port', String(nativePort)], { env: world.env, stdio: ['ignore', 'inherit', 'inherit'] }), 'tauri-driver')
  await waitFor('tauri-driver to listen', () => portOpen(port), 15000)
  const driver = await new Builder()
    .usingServer(`http://127.0.0.1:${port}/`)
    .withCapabilities({ browserName: 'wry', 'tauri:options': { application: APP_BIN } })
    .build()
  return driver
}

/** Saves a screenshot of the window (after two frames, so it is not the previous one). */
export async function screenshot(driver, name) {
  await driver.executeAsyncScript('const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => done()))')
  const file = path.join(ARTIFACTS, `${name}.png`)
  fs.mkdirSync(ARTIFACTS, { recursive: true })
  // Captured from the X server, not with WebDriver's takeScreenshot: with WebKit's compositing
  // off (the app's default) that call leaves WebKitWebDriver's later clicks and keys hanging.
  const win = spawnSync('xdotool', ['search', '--onlyvisible', '--name', '^Berth$'], { encoding: 'utf8' })
  const id = win.stdout.trim().split('\n')[0]
  if (!id) throw new Error(`no visible Berth window to capture: ${win.stderr}`)
  const shot = spawnSync('import', ['-window', id, file], { encoding: 'utf8' })
  if (shot.status !== 0) throw new Error(`import failed: ${shot.stderr}`)
  console.log(`screenshot: ${file}`)
  return file
}

export const read = (file) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '')

export function currentContext(world) {
  const cfg = read(path.join(world.dockerConfig, 'config.json'))
  return cfg ? (JSON.parse(cfg).currentContext ?? null) : null
}

/**
 * gnome-keyring's Secret Service in this D-Bus session (the suite runs in dbus-run-session),
 * unlocked with a test password, in the foreground so it is ours to stop by PID.
 */
export async function startKeyring(world) {
  const runtime = path.join(world.dir, 'keyring-run')
  fs.mkdirSync(runtime, { mode: 0o700 })
  const p = track(spawn('gnome-keyring-daemon', ['--foreground', '--unlock', '--components=secrets'], {
    env: { ...world.env, XDG_RUNTIME_DIR: runtime },
    stdio: ['pipe', 'ignore', 'inherit'],
  }), 'gnome-keyring-daemon')
  p.stdin.end('gui-test-password')
  await waitFor('the Secret Service on the session bus', () => {
    const r = run('dbus-send', ['--session', '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.NameHasOwner', 'string:org.freedesktop.secrets'], world.env)
    return r.out.includes('boolean true')
  }, 10000, 50)
}

/** What the keyring holds for a Berth account (read with libsecret's secret-tool), or ''. */
export function keyringSecret(world, provider, name) {
  return run('secret-tool', ['lookup', 'service', `dev.berth.${provider}`, 'username', name], world.env).out
}

/** tests/cloud/fake_do.py on a free loopback port, accepting only `token`. */
export async function startFakeDigitalOcean(world, token) {
  const port = await freePort()
  const p = track(spawn(PY, [path.join(ROOT, 'tests/cloud/fake_do.py'), String(port), token], { env: world.env, stdio: ['ignore', 'pipe', 'inherit'] }), 'fake_do.py')
  await readyLine(p, 'fake DigitalOcean on', 'fake_do.py')
  return `http://127.0.0.1:${port}`
}
