// Shared by the browser tests that run the REAL agent and the REAL reference customer next to
// the config service (agent-obeys.mjs, profile-switch.mjs): child processes with their logs,
// the customer on a free loopback port, the agent on a demo clock, its outbox through the CLI.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { targetBinary, waitFor } from './support.mjs';

export const HOUR_MS = 3_600_000;

const pad = (n) => String(n).padStart(2, '0');
/// The report hour (YYYYMMDDHH, UTC+08:00, the agent's default) starting at `ms`.
export const fluxHour = (ms) => {
  const d = new Date(ms + 8 * HOUR_MS);
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}`;
};
export const formatHour = (h) => `${h.slice(0, 4)}-${h.slice(4, 6)}-${h.slice(6, 8)} ${h.slice(8, 10)}:00`;

/// The interface the agent collects: the default-route one (a CI container's eth0 is a veth,
/// which the agent's own detection rightly refuses, hence allow_virtual), else any other
/// interface with a MAC. Which one does not matter here; that the agent reports it does.
export function collectedInterface() {
  const routes = readFileSync('/proc/net/route', 'utf8').trim().split('\n').slice(1);
  const fallback = readdirSync('/sys/class/net').filter((name) => {
    if (name === 'lo') return false;
    const mac = readFileSync(`/sys/class/net/${name}/address`, 'utf8').trim();
    return /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac) && mac !== '00:00:00:00:00:00';
  });
  const byRoute = routes.map((line) => line.trim().split(/\s+/)).find((f) => f[1] === '00000000' && f[7] === '00000000');
  const name = byRoute && fallback.includes(byRoute[0]) ? byRoute[0] : fallback[0];
  if (!name) throw new Error('no network interface with a MAC on this host for the agent to collect');
  return { name, mac: readFileSync(`/sys/class/net/${name}/address`, 'utf8').trim() };
}

/// A child process of the test, its stderr in a log file; `stop` ends it (TERM, then KILL).
export function startProcess(bin, args, { env, log, stdout = 'ignore' }) {
  const fd = openSync(log, 'a');
  const child = spawn(bin, args, { env, stdio: ['ignore', stdout, fd] });
  closeSync(fd);
  const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
  return {
    child,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/// The reference customer on a free loopback port with these credentials (`args`: more flags,
/// e.g. `--line-access-id ID`).
export async function startCustomer(dir, { accessId, secret, args = [] }) {
  const bin = targetBinary('pushagent-customer', 'PUSHAGENT_CUSTOMER_BIN');
  const log = join(dir, 'customer.log');
  const proc = startProcess(
    bin,
    ['--listen', '127.0.0.1:0', '--db', join(dir, 'customer.sqlite'), '--access-id', accessId, '--secret', secret, ...args],
    { env: { ...process.env, RUST_LOG: 'info' }, log },
  );
  let died = null;
  proc.exited.then((how) => (died = how));
  const address = await waitFor('the reference customer to listen', () => {
    if (died) throw new Error(`pushagent-customer exited (${JSON.stringify(died)}): ${readFileSync(log, 'utf8')}`);
    return readFileSync(log, 'utf8').match(/reference customer on (127\.0\.0\.1:\d+)/)?.[1];
  });
  const base = `http://${address}`;
  return {
    ...proc,
    base,
    log,
    async dump() {
      const response = await fetch(`${base}/_admin/dump`);
      assert.equal(response.status, 200);
      return response.json();
    },
  };
}

/// The real agent in the foreground on a config written here, its clock `scale` times faster.
export function startAgent(dir, { serviceUrl, enrollToken, iface, scale, testName }) {
  const bin = targetBinary('pushagent', 'PUSHAGENT_BIN');
  const config = join(dir, 'agent.toml');
  writeFileSync(
    config,
    [
      `# Written by e2e/${testName}. demo_time_scale makes the points NOT real.`,
      `state_dir = ${JSON.stringify(join(dir, 'agent-state'))}`,
      `interface = ${JSON.stringify(iface)}`,
      'allow_virtual = true',
      'sample_interval_secs = 60',
      `demo_time_scale = ${scale}`,
      'push_spread_secs = 120',
      // Test machines run without NTP (the kernel says "unsynchronised"): build hours anyway.
      'trust_unsynced_clock = true',
      '',
      '[service]',
      `url = ${JSON.stringify(serviceUrl)}`,
      `enrollment_token = ${JSON.stringify(enrollToken)}`,
      'config_interval_secs = 60',
      '',
    ].join('\n'),
  );
  const log = join(dir, 'agent.log');
  const spawnedAt = Date.now();
  const proc = startProcess(bin, ['--config', config, 'run'], { env: { ...process.env, RUST_LOG: 'info' }, log });
  let died = null;
  proc.exited.then((how) => (died = how));
  return {
    ...proc,
    log,
    spawnedAt,
    alive() {
      if (died) throw new Error(`the agent exited (${JSON.stringify(died)}); its log:\n${readFileSync(log, 'utf8')}`);
    },
    /// The agent's clock started, at the earliest, when it was spawned; so at real time `ms`
    /// it reads at most this (ScaledClock: start + (now - start) x scale).
    clockAtMost(ms) {
      return ms * scale - spawnedAt * (scale - 1);
    },
    /// Its outbox, as the operator's CLI shows it (JSON), while it runs.
    outbox() {
      return new Promise((resolvePromise, reject) => {
        const cli = spawn(bin, ['--config', config, 'outbox', '--json', '--limit', '1000'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        cli.stdout.on('data', (c) => (out += c));
        cli.stderr.on('data', (c) => (err += c));
        cli.on('exit', (code) => (code === 0 ? resolvePromise(JSON.parse(out)) : reject(new Error(`pushagent outbox: ${code} ${err}`))));
      });
    },
  };
}
