// The real Berth app window, driven through tauri-driver + WebKitWebDriver under Xvfb and D-Bus
// (tests/gui/run.sh), against a real test host: create a machine with the wizard, see it
// Running, switch the active host from the window and from the tray's real D-Bus menu, check
// the env file, docker context and shell profiles the app writes, and that `docker` follows.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  By,
  CLI_BIN,
  berth,
  currentContext,
  keyringSecret,
  makeWorld,
  read,
  screenshot,
  sh,
  startApp,
  startFakeDigitalOcean,
  startKeyring,
  startTrayHost,
  stopAll,
  testhostDown,
  startRegistry,
  freePort,
  testhostExec,
  testhostUp,
  trayClick,
  trayItem,
  trayLayout,
  waitFor,
} from './harness.mjs'

const HOST_N = 20
const DO_TOKEN = 'dop_v1_gui_0123456789abcdef'
let world, host, driver, trayItems, tray

const $ = (css) => driver.findElement(By.css(css))
const $x = (xpath) => driver.findElement(By.xpath(xpath))
const button = (label) => $x(`//button[normalize-space()='${label}']`)
const text = async (css) => (await $(css)).getText()
const row = (name) => `tr[data-machine='${name}']`
const rowText = async (name) => {
  const rows = await driver.findElements(By.css(row(name)))
  return rows.length ? rows[0].getText() : null
}
const dockerVersion = (prefix = '') => sh(world, `${prefix} docker version --format '{{.Server.Version}}'`)

/** A one-file busybox image, imported as berth-test/busybox (the test host has no registry)
 * into the Docker that `dockerEnv` (a shell line) points at. */
function importBusybox(dockerEnv) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-gui-bb-'))
  fs.mkdirSync(path.join(dir, 'root/bin'), { recursive: true })
  fs.copyFileSync('/bin/busybox', path.join(dir, 'root/bin/busybox'))
  fs.symlinkSync('busybox', path.join(dir, 'root/bin/sh'))
  const r = sh(world, `tar -cf '${dir}/bb.tar' -C '${dir}/root' . && ${dockerEnv} && docker import '${dir}/bb.tar' berth-test/busybox`)
  fs.rmSync(dir, { recursive: true, force: true })
  return r
}

describe('Berth desktop app', { timeout: 240000 }, () => {
  before(async () => {
    world = makeWorld()
    host = testhostUp(HOST_N)
    trayItems = await startTrayHost(world)
    await startKeyring(world)
    world.env.BERTH_DIGITALOCEAN_API_URL = await startFakeDigitalOcean(world, DO_TOKEN)
    delete world.env.DIGITALOCEAN_ACCESS_TOKEN
    driver = await startApp(world)
  })

  after(async () => {
    try {
      if (driver) {
        const errors = await driver.executeScript('return window.__berthErrors || []').catch(() => [])
        if (errors.length) console.log(`console errors: ${JSON.stringify(errors)}`)
        await driver.quit().catch(() => {})
      }
    } finally {
      await stopAll()
      testhostDown(HOST_N)
    }
  })

  test('the window opens on the machines view, empty', async () => {
    await waitFor('the machines view', async () => (await text('main h1')) === 'Machines')
    await waitFor('the empty list', async () => (await text('main')).includes('No machines yet'))
    assert.equal(await text('[data-testid=active-host]'), 'local Docker')
    assert.equal(await driver.getTitle(), 'Berth')
    // Docker Toolbox's Quickstart: one button, sized to this computer, on the best local
    // driver here (QEMU: the suite installs it).
    await waitFor('the one-click local machine', async () => (await text('main')).includes('Create a local Docker machine'))
    assert.match(await text('.quick-note'), /“default”: QEMU virtual machine, \d+ CPUs, \d+ MB/)
  })

  test('the tray shows the empty menu, local Docker checked', async () => {
    tray = await trayItem(trayItems)
    const labels = trayLayout(world, tray).map((i) => i.label)
    assert.deepEqual(labels.filter(Boolean), ['No machines yet: create one…', 'Use local Docker', 'Open Berth', 'Quit'])
    const local = trayLayout(world, tray).find((i) => i.label === 'Use local Docker')
    assert.equal(local.checked, true)
  })

  test('the wizard: validation, a failed connection explained, then fixed and retried', async () => {
    await button('New machine').click()
    await $('[role=dialog]')
    // Only usable drivers are offered as ready.
    const generic = await $x("//button[contains(., 'Existing server (SSH)')]")
    assert.equal(await generic.isEnabled(), true)
    await generic.click()
    await screenshot(driver, '01-wizard-options-empty')

    // Client-side validation: a bad name and a missing address, each said next to its field.
    await $('#machine-name').sendKeys('bad name!')
    await button('Review').click()
    await waitFor('field errors', async () => (await driver.findElements(By.css('.error[role=alert]'))).length >= 2)
    assert.equal(await driver.executeScript('return document.activeElement.id'), 'machine-name')

    // A port where nothing listens: the create fails and says what to do.
    await $('#machine-name').clear()
    await $('#machine-name').sendKeys('gui1')
    await $('#opt-generic-ip-address').sendKeys(host.ip)
    await $('#opt-generic-ssh-key').sendKeys(host.key)
    await $('#opt-generic-ssh-port').sendKeys('2299')
    await button('Review').click()
    await waitFor('the review', async () => (await text('.dialog')).includes(host.ip))
    await screenshot(driver, '02-wizard-review')
    await button('Create').click()
    const alert = await waitFor('the failure', async () => {
      const a = await driver.findElements(By.css('.dialog .alert[role=alert]'))
      return a.length ? a[0] : null
    }, 60000)
    const failure = await alert.getText()
    assert.match(failure, /nothing listens on port 2299/, failure)
    assert.equal((await alert.findElements(By.css('p'))).length, 1, `a hint is shown: ${failure}`)
    await screenshot(driver, '03-wizard-failed')
    // The failed attempt shows in the list as an Error row.
    await waitFor('the Error row', async () => (await rowText('gui1'))?.includes('Error'))

    // Fix the port and retry under the same name: the failed record is replaced.
    await button('Back to options').click()
    await $('#opt-generic-ssh-port').clear()
    await button('Review').click()
    await waitFor('the review', async () => (await text('.dialog')).includes('22 (default)'))
    await button('Create').click()
    const done = await waitFor('the create to finish', async () => {
      const s = await driver.findElements(By.css('.dialog .success, .dialog .alert'))
      return s.length ? s[0] : null
    }, 120000)
    const result = await done.getText()
    assert.match(result, /"gui1" is ready/, result)
    const steps = await text('.steps')
    for (const s of ['Removing the failed attempt', 'Preparing certificates', 'Connecting to root@']) assert.ok(steps.includes(s), steps)
    assert.doesNotMatch(steps, /✘/)
    await screenshot(driver, '04-wizard-done')
    await button('Close').click()
    await waitFor('the dialog to close', async () => (await driver.findElements(By.css('[role=dialog]'))).length === 0)

    await waitFor('gui1 Running in the list', async () => (await rowText('gui1'))?.includes('Running'), 20000)
    const r = await rowText('gui1')
    assert.match(r, /generic/)
    assert.ok(r.includes(`tcp://${host.ip}:2376`), r)
    assert.match(r, /20\.10/, 'the Docker version is shown')
    // The desktop notifications went to the session's notification server.
    const notes = await waitFor('the notifications', () => {
      const t = read(world.notifications)
      return t.includes('machine ready') ? t : null
    })
    assert.match(notes, /create failed/)
    assert.match(notes, /gui1/)
  })

  test('make it active from the window: the env file changes and docker follows', async () => {
    await $(`${row('gui1')} button.use`).click()
    await waitFor('the active marker', async () => (await text('[data-testid=active-host]')) === 'gui1')
    assert.equal(await $(`${row('gui1')} button.use`).getAttribute('aria-pressed'), 'true')
    const envFile = path.join(world.store, 'active/env.sh')
    const env = read(envFile)
    assert.ok(env.includes(`DOCKER_HOST="tcp://${host.ip}:2376"`) || env.includes(`DOCKER_HOST='tcp://${host.ip}:2376'`) || env.includes(`tcp://${host.ip}:2376`), env)
    const v = dockerVersion(`. '${envFile}' &&`)
    assert.equal(v.code, 0, v.text)
    assert.match(v.out, /^20\.10/)
    assert.equal(berth(world, 'active').out.trim(), 'gui1')
    // The docker context is kept for every machine, even in env mode.
    const c = sh(world, "docker --context berth-gui1 version --format '{{.Server.Version}}'")
    assert.equal(c.code, 0, c.text)
    await screenshot(driver, '05-machines-active')
  })

  test('a machine made with the CLI appears in the window within a second', async () => {
    const t0 = Date.now()
    const r = berth(world, 'create', '-d', 'none', '--url', `tcp://${host.ip}:2376`, 'cli1')
    assert.equal(r.code, 0, r.text)
    const created = Date.now()
    await waitFor('cli1 in the list', async () => (await rowText('cli1')) !== null, 5000, 20)
    const seen = Date.now()
    console.log(`cli create took ${created - t0} ms; the window showed it ${seen - created} ms later`)
    assert.ok(seen - created < 1000, `shown ${seen - created} ms after the CLI finished`)
    await waitFor('cli1 Running', async () => (await rowText('cli1'))?.includes('Running'), 10000)
  })

  test('the machine page: containers made with the docker CLI, their logs, stopped from the window, live', async () => {
    const d = (cmd) => sh(world, `eval "$('${CLI_BIN}' env gui1)" && docker ${cmd}`)
    let r = importBusybox(`eval "$('${CLI_BIN}' env gui1)"`)
    assert.equal(r.code, 0, r.text)
    // It writes one more line once told to (a file appears), after its log view is open.
    r = d(`run -d --name talker berth-test/busybox sh -c 'echo hello from talker; echo oops >&2; while [ ! -e /go ]; do busybox sleep 0.2; done; echo written while followed; exec busybox sleep 600'`)
    assert.equal(r.code, 0, r.text)

    await $(`${row('gui1')} button[aria-label='Open gui1']`).click()
    await waitFor('the page with the container', async () => (await driver.findElements(By.css("tr[data-container='talker']"))).length === 1, 20000)
    assert.match(await text("[aria-label='Engine']"), /Docker 20\.10/)
    await $x("//tr[@data-container='talker']//button[normalize-space()='Logs']").click()
    await waitFor('the log lines', async () => (await text('.logs')).includes('hello from talker'), 10000)
    assert.ok((await text('.logs .stderr')).includes('oops'), 'stderr is marked')
    await $x("//div[@role='region']//label[contains(., 'Follow')]/input").click()
    r = d('exec talker busybox touch /go')
    assert.equal(r.code, 0, r.text)
    await waitFor('the line written after the view opened', async () => (await text('.logs')).includes('written while followed'), 10000)

    // Stopped from the window: docker sees it.
    await $("input[aria-label='Select talker']").click()
    await button('Stop').click()
    await waitFor('docker says exited', () => d("inspect -f '{{.State.Status}}' talker").out.trim() === 'exited', 30000)
    await waitFor('the page says exited', async () => (await text("tr[data-container='talker']")).includes('exited'), 10000)

    // Removed elsewhere while its log view is open: the lines stay, the view says why.
    r = d('rm talker')
    assert.equal(r.code, 0, r.text)
    await waitFor('the log view says it was removed', async () => (await text('.logs')).includes('(the container was removed)'), 10000)
    assert.ok((await text('.logs')).includes('written while followed'), 'its lines stay')
    assert.equal((await driver.findElements(By.css("tr[data-container='talker']"))).length, 0)

    // Made elsewhere: it appears without a refresh (the page follows the event stream).
    r = d('create --name elsewhere berth-test/busybox true')
    assert.equal(r.code, 0, r.text)
    const created = Date.now()
    await waitFor('the new container', async () => (await driver.findElements(By.css("tr[data-container='elsewhere']"))).length === 1, 5000, 20)
    console.log(`docker create returned -> shown on the machine page: ${Date.now() - created} ms`)
    await screenshot(driver, '05b-machine-page')

    // Removed from the window, after the confirmation.
    await $("input[aria-label='Select elsewhere']").click()
    await button('Remove…').click()
    const dialog = await $('[role=alertdialog]')
    assert.match(await dialog.getText(), /Remove the container\?/)
    await dialog.findElement(By.xpath(".//button[normalize-space()='Remove']")).click()
    await waitFor('gone', () => d("ps -a --format '{{.Names}}'").out.trim() === '', 30000)

    // Pulled from a registry inside the test host, with each layer's progress: the image is
    // pushed there and deleted from the machine first, so its layer really comes down.
    const registry = await startRegistry(host)
    const image = `127.0.0.1:${registry.port}/berth-test/pulled:v1`
    try {
      r = d(`tag berth-test/busybox ${image} && docker push ${image} && docker rmi ${image} berth-test/busybox`)
      assert.equal(r.code, 0, r.text)
      await $x("//button[@role='tab'][starts-with(normalize-space(),'Images')]").click()
      await $("input[aria-label='Image to pull']").sendKeys(image)
      await button('Pull').click()
      await waitFor('pulled', async () => (await driver.findElements(By.xpath(`//p[normalize-space()='Pulled ${image}.']`))).length === 1, 60000)
      assert.match(await text("[aria-label='Pull progress']"), /Pull complete/)
      await screenshot(driver, '05c-pulled')

      // Run from it: a container whose published port answers.
      const port = await freePort()
      await $(`button[aria-label='Run ${image}']`).click()
      const field = (label) => $x(`//div[@role='dialog']//label[starts-with(normalize-space(),'${label}')]/input`)
      await (await field('Name')).sendKeys('site')
      await (await field('Command')).sendKeys(`sh -c 'mkdir -p /w && echo hi from the run form > /w/index.html && exec busybox httpd -f -p 80 -h /w'`)
      await (await field('Ports')).sendKeys(`${port}:80`)
      await $x("//div[@role='dialog']//button[normalize-space()='Run']").click()
      await waitFor('the new container on the page', async () => (await driver.findElements(By.css("tr[data-container='site']"))).length === 1, 20000)
      await waitFor('its port answers', () => sh(world, `curl -fsS --max-time 2 http://${host.ip}:${port}/`).out.trim() === 'hi from the run form', 20000, 200)
      await $("button[aria-label='Inspect site']").click()
      await waitFor('the inspect view', async () => (await text("div[aria-label='Inspect site']")).includes('"Name": "/site"'))
      await $x("//div[@aria-label='Inspect site']//button[normalize-space()='Close']").click()
    } finally {
      d(`rm -f site; docker tag ${image} berth-test/busybox; docker rmi ${image}`)
      registry.stop()
    }

    // The machine's Docker stops while the page is open: the page says so, and comes back by
    // itself once Docker does.
    const paused = "//p[@role='status'][contains(., 'Live updates paused')]"
    testhostExec(host.n, 'systemctl', 'stop', 'docker')
    await waitFor('the page says Docker is gone', async () => (await driver.findElements(By.xpath(paused))).length === 1, 30000)
    await screenshot(driver, '05d-docker-gone')
    testhostExec(host.n, 'systemctl', 'start', 'docker')
    await waitFor('the page is live again', async () => (await driver.findElements(By.xpath(paused))).length === 0 && (await driver.findElements(By.css('.page [role=alert]'))).length === 0, 30000)
    r = d('create --name after-restart berth-test/busybox true')
    assert.equal(r.code, 0, r.text)
    await waitFor('a container made after the restart', async () => (await driver.findElements(By.css("tr[data-container='after-restart']"))).length === 1, 10000)
    d('rm after-restart')

    await button('← Machines').click()
    await waitFor('the list again', async () => (await text('main h1')) === 'Machines')
  })

  test('settings: context mode and the shell-profile block, previewed then installed and removed', async () => {
    await button('Settings').click()
    await waitFor('the settings page', async () => (await text('main')).includes('Shell profiles'))
    const preview = await text('.profiles')
    assert.ok(preview.includes('.bashrc') && preview.includes('berth.fish'), preview)
    assert.ok(preview.includes(path.join(world.store, 'active')), `the block sources the active file: ${preview}`)
    assert.ok(!fs.existsSync(path.join(world.home, '.bashrc')), 'nothing is written before the user agrees')

    await button('Add to my shell profiles').click()
    await waitFor('installed', async () => (await text('.profiles')).includes('installed'))
    const bashrc = read(path.join(world.home, '.bashrc'))
    assert.match(bashrc, /# >>> berth >>>/)
    assert.ok(fs.existsSync(path.join(world.home, '.config/fish/conf.d/berth.fish')))
    // A new login shell now talks to the active host (gui1) with no berth command.
    const v = sh(world, `HOME='${world.home}' bash -ic "docker version --format '{{.Server.Version}}'" 2>/dev/null`)
    assert.equal(v.code, 0, v.text)
    assert.match(v.out.trim(), /^20\.10/)

    await $("input[name=mode][value=context]").click()
    await waitFor('context mode saved', () => read(path.join(world.store, 'settings.json')).includes('"context"'))
    await screenshot(driver, '06-settings')
    await $('select').sendKeys('Dark')
    await waitFor('dark theme', async () => (await driver.executeScript('return document.documentElement.dataset.theme')) === 'dark')
    await screenshot(driver, '07-settings-dark')

    assert.match(read(path.join(world.home, '.zshrc')), /KEEP_ME[\s\S]*# >>> berth >>>/)

    await button('Remove from my shell profiles').click()
    await waitFor('removed', () => !read(path.join(world.home, '.bashrc')).includes('berth'))
    assert.equal(read(path.join(world.home, '.zshrc')), world.zshrc, "the user's own .zshrc is back as it was")
    assert.ok(!fs.existsSync(path.join(world.home, '.config/fish/conf.d/berth.fish')))
    await button('Machines').click()
    await screenshot(driver, '08-machines-dark')
  })

  test('the tray lists the machines and switches the active host (context mode: open terminals follow)', async () => {
    // Each machine says how many containers run on it; the tray opens a machine's page.
    const r = sh(world, `eval "$('${CLI_BIN}' env gui1)" && docker run -d --name counted berth-test/busybox sh -c 'exec busybox sleep 600'`)
    assert.equal(r.code, 0, r.text)
    await $("button[aria-label='Check all machines now']").click()
    await waitFor('the count in the tray', () => trayLayout(world, tray).some((i) => i.label === 'gui1  (running, 1 container)'), 10000)
    trayClick(world, tray, 'Open gui1')
    await waitFor("gui1's page", async () => (await driver.findElements(By.css("tr[data-container='counted']"))).length === 1, 10000)
    await button('← Machines').click()
    sh(world, `eval "$('${CLI_BIN}' env gui1)" && docker rm -f counted`)

    const layout = trayLayout(world, tray)
    const gui1 = layout.find((i) => i.label.startsWith('gui1  ('))
    const cli1 = layout.find((i) => i.label.startsWith('cli1  ('))
    assert.ok(gui1 && cli1, JSON.stringify(layout))
    assert.equal(gui1.checked, true)
    assert.equal(cli1.checked, false)

    trayClick(world, tray, 'cli1')
    await waitFor('the current context', () => currentContext(world) === 'berth-cli1')
    // An already-open terminal (no DOCKER_HOST) follows through the current context.
    const v = dockerVersion('docker context show &&')
    assert.equal(v.code, 0, v.text)
    assert.match(v.out, /^berth-cli1\n20\.10/)
    await waitFor('the window follows the tray', async () => (await text('[data-testid=active-host]')) === 'cli1')
    await waitFor('the tray checks cli1', () => trayLayout(world, tray).find((i) => i.label.startsWith('cli1  ('))?.checked === true)
    assert.equal(trayLayout(world, tray).find((i) => i.label.startsWith('gui1  (')).checked, false)

    trayClick(world, tray, 'Use local Docker')
    await waitFor('the default context', () => currentContext(world) === null)
    await waitFor('the window shows local Docker', async () => (await text('[data-testid=active-host]')) === 'local Docker')
    assert.match(read(path.join(world.store, 'active/env.sh')), /unset DOCKER_HOST/)
    await waitFor('the tray checks local', () => trayLayout(world, tray).find((i) => i.label === 'Use local Docker')?.checked === true)
  })

  test('remove machines from the window, with a confirmation', async () => {
    for (const name of ['cli1', 'gui1']) {
      await $(`${row(name)} button[aria-label='Actions for ${name}']`).click()
      await $x(`//div[@role='menu']//button[normalize-space()='Remove…']`).click()
      const dialog = await $('[role=alertdialog]')
      assert.match(await dialog.getText(), new RegExp(`Remove ${name}\\?`))
      if (name === 'gui1') await screenshot(driver, '09-confirm-remove')
      await dialog.findElement(By.xpath(".//button[normalize-space()='Remove']")).click()
      await waitFor(`${name} to go`, async () => (await rowText(name)) === null, 60000)
    }
    assert.equal(berth(world, 'ls', '-q').out.trim(), '')
    assert.ok(!fs.readdirSync(path.join(world.dockerConfig, 'contexts/meta')).length, 'contexts removed')
    // The server is back to its own Docker configuration: nothing listens on 2376.
    const probe = sh(world, `timeout 3 bash -c '</dev/tcp/${host.ip}/2376' 2>/dev/null && echo open || echo closed`)
    assert.equal(probe.out.trim(), 'closed')
    await waitFor('the empty list', async () => (await text('main')).includes('No machines yet'))
  })

  test('cloud accounts: a token is checked with the provider before it is saved in the keychain, then removed', async () => {
    await button('Accounts').click()
    await waitFor('the empty accounts page', async () => (await text('main')).includes('No cloud accounts yet.'))
    await button('Add account').click()
    const name = await $('#acct-name')
    await name.clear()
    await name.sendKeys('work')
    const secret = await $('#acct-secret')
    assert.equal(await secret.getAttribute('type'), 'password')
    await secret.sendKeys('dop_v1_wrong')
    await button('Check and save').click()
    // The fake answers 401 to any other token: nothing is saved.
    const alert = await waitFor('the refusal', async () => {
      const a = await driver.findElements(By.css('main [role=alert]'))
      return a.length && (await a[0].getText())
    })
    assert.match(alert, /refused the credentials \(401\)/)
    assert.equal(keyringSecret(world, 'digitalocean', 'work'), '')
    assert.ok(!fs.existsSync(path.join(world.store, 'credentials.json')))

    await secret.clear()
    await secret.sendKeys(DO_TOKEN)
    await button('Check and save').click()
    const status = await waitFor('the saved notice', async () => {
      const s = await driver.findElements(By.css('main [role=status]'))
      return s.length && (await s[0].getText())
    })
    assert.match(status, /Saved "work": it works for the DigitalOcean account berth-tests@example.com/)
    await waitFor('the account row', async () => (await driver.findElements(By.css("tr[data-account='digitalocean/work']"))).length === 1)
    assert.equal(keyringSecret(world, 'digitalocean', 'work'), DO_TOKEN)
    assert.ok(!(await text('main')).includes(DO_TOKEN), 'the page shows the token')
    assert.equal(sh(world, `grep -rl '${DO_TOKEN}' '${world.store}' || true`).out.trim(), '', 'the token is in the store')
    assert.match(berth(world, 'credentials', 'ls').out, /digitalocean +work +keychain/)
    await screenshot(driver, '10-accounts')

    await $("button[aria-label='Test work']").click()
    await waitFor('the test result', async () => (await text('main [role=status]')).includes('"work" works for the DigitalOcean account'))

    // The wizard's cloud form picks the account; it never asks for a token.
    await button('Machines').click()
    await button('New machine').click()
    await (await waitFor('the DigitalOcean card', async () => {
      const b = await driver.findElements(By.xpath("//button[.//strong[normalize-space()='DigitalOcean']]"))
      return b.length && (await b[0].isEnabled()) && b[0]
    })).click()
    const account = await $('#opt-digitalocean-account')
    assert.match(await account.getText(), /work \(your only account\)/)
    assert.equal((await driver.findElements(By.css('#opt-digitalocean-access-token'))).length, 0)
    await screenshot(driver, '11-wizard-cloud')
    await $("button[aria-label='Close']").click()
    await waitFor('the wizard to close', async () => (await driver.findElements(By.css('[role=dialog]'))).length === 0)

    // AWS EC2 too: the main options first, the rest folded under "More AWS EC2 options".
    await button('New machine').click()
    // The local VM column: QEMU is ready (the suite installs it); VirtualBox and Hyper-V say
    // what they need.
    const card = async (title) => {
      const b = await waitFor(`the ${title} card`, async () => (await driver.findElements(By.xpath(`//button[.//strong[normalize-space()='${title}']]`)))[0])
      return { enabled: await b.isEnabled(), text: await b.getText() }
    }
    assert.equal((await card('QEMU virtual machine')).enabled, true)
    const vbox = await card('VirtualBox virtual machine')
    assert.equal(vbox.enabled, false)
    assert.match(vbox.text, /install VirtualBox/)
    assert.match((await card('Hyper-V virtual machine')).text, /Windows/)
    await (await waitFor('the AWS EC2 card', async () => {
      const b = await driver.findElements(By.xpath("//button[.//strong[normalize-space()='AWS EC2']]"))
      return b.length && (await b[0].isEnabled()) && b[0]
    })).click()
    assert.ok(await (await $('#opt-amazonec2-region')).isDisplayed())
    assert.ok(await (await $('#opt-amazonec2-allowed-cidr')).isDisplayed())
    assert.equal(await (await $('#opt-amazonec2-vpc-id')).isDisplayed(), false)
    assert.equal((await driver.findElements(By.css('#opt-amazonec2-secret-key'))).length, 0)
    await $('details.more-options summary').click()
    assert.ok(await (await $('#opt-amazonec2-vpc-id')).isDisplayed())
    await screenshot(driver, '12-wizard-ec2')
    await $("button[aria-label='Close']").click()
    await waitFor('the wizard to close', async () => (await driver.findElements(By.css('[role=dialog]'))).length === 0)

    await button('Accounts').click()
    // The page lists the accounts when it opens: wait for the row.
    await waitFor('the account row again', async () => (await driver.findElements(By.css("button[aria-label='Remove work']"))).length === 1)
    await $("button[aria-label='Remove work']").click()
    const dialog = await $('[role=alertdialog]')
    await dialog.findElement(By.xpath(".//button[normalize-space()='Remove']")).click()
    await waitFor('the account to go', async () => (await text('main')).includes('No cloud accounts yet.'))
    assert.equal(keyringSecret(world, 'digitalocean', 'work'), '')
    await button('Machines').click()
  })

  test('no console errors in the window', async () => {
    const errors = await driver.executeScript('return window.__berthErrors')
    assert.deepEqual(errors, [])
  })

  test('a relaunch draws the stored machines at once, then their probed state', async () => {
    // A loopback port nothing listens on: the probe answers fast, and not "Running".
    const r = berth(world, 'create', '-d', 'none', '--url', 'tcp://127.0.0.1:9', 'boot1')
    assert.equal(r.code, 0, r.text)
    await driver.quit()
    driver = await startApp(world)
    // The list came with the page (no IPC round trip before the first paint).
    const boot = await driver.executeScript('return window.__BERTH_BOOT__')
    assert.deepEqual(boot.machines.map((m) => m.name), ['boot1'])
    assert.equal(boot.machines[0].url, 'tcp://127.0.0.1:9')
    await waitFor('boot1 drawn', async () => (await rowText('boot1')) !== null, 1000, 10)
    await waitFor('boot1 probed', async () => {
      const state = await text(`${row('boot1')} [data-testid=state]`)
      return state !== 'Checking' && state
    })
    assert.deepEqual(await driver.executeScript('return window.__berthErrors'), [])
  })

  test('the local Docker page: this computer\'s Docker through its socket, live', async () => {
    // This computer's Docker, for the app: the test host's dockerd through its Unix socket,
    // named by DOCKER_HOST (as for rootless Docker or Colima).
    const socket = path.join(host.state, 'run/docker.sock')
    assert.ok(fs.existsSync(socket), `${socket} exists`)
    const env = `export DOCKER_HOST=unix://${socket} DOCKER_TLS_VERIFY= DOCKER_CERT_PATH=`
    let r = importBusybox(env)
    assert.equal(r.code, 0, r.text)
    r = sh(world, `${env} && docker create --name on-this-computer berth-test/busybox true`)
    assert.equal(r.code, 0, r.text)
    await driver.quit()
    world.env.DOCKER_HOST = `unix://${socket}`
    try {
      driver = await startApp(world)
    } finally {
      delete world.env.DOCKER_HOST
    }
    await waitFor('the window', async () => (await driver.findElements(By.xpath("//button[normalize-space()='Local Docker']"))).length === 1, 20000)
    await button('Local Docker').click()
    await waitFor('its container', async () => (await driver.findElements(By.css("tr[data-container='on-this-computer']"))).length === 1, 20000)
      .catch(async (e) => { throw new Error(`${e.message}; the page says: ${await text('main')}`) })
    assert.match(await text("[aria-label='Engine']"), /Docker 20\.10/)
    assert.equal((await driver.findElements(By.xpath("//button[@role='tab'][normalize-space()='Machine']"))).length, 0, 'no Machine tab')
    await screenshot(driver, '14-local-docker')
    // Live, as a machine's page: removed with the docker CLI, gone from the page.
    r = sh(world, `${env} && docker rm on-this-computer`)
    assert.equal(r.code, 0, r.text)
    await waitFor('gone from the page', async () => (await driver.findElements(By.css("tr[data-container='on-this-computer']"))).length === 0, 10000)
    await button('← Machines').click()
  })
})
